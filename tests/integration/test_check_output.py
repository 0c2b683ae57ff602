"""A health check's Output changing while its status stays (what every
agent's anti-entropy sync does every few minutes per check) is no change
for a template that cannot show it: the answer decodes to the same data,
so nothing is rendered and the file is not touched. A template that
prints .Output renders it.
"""

import os
import unittest

from harness import APP_SEED, DaemonCase, count_lines, wait_for

HEALTH = "/v1/health/service/foo-app"


class CheckOutput(DaemonCase):
    def write_output(self, text):
        """foo-app01's service check, still passing, with a new Output;
        returns the index it took."""
        self.sim.set_check("foo-app01", "service:foo-app", "passing",
                           service_id="foo-app", output=text, type="http")
        return self.sim.index

    def test_output_only_write_is_no_change(self):
        d = self.daemon("-log-level", "debug")
        self.wait_file(APP_SEED)
        wait_for(lambda: count_lines(self.counter) == 1, 10, "command run")
        st = os.stat(self.dest)
        before = len(d.log())
        for i in range(3):
            idx = self.write_output("HTTP GET /health: 200 OK (%d)" % i)
            # The daemon took the answer: it blocks on the new index.
            self.await_blocked(HEALTH, min_index=idx)
        log = d.log()
        self.assertNotIn("health.service(foo-app|passing) changed",
                         log[before:])
        self.assertEqual(d.count(": written ("), 1, log)
        self.assertEqual(count_lines(self.counter), 1)
        st2 = os.stat(self.dest)
        self.assertEqual((st.st_ino, st.st_mtime_ns),
                         (st2.st_ino, st2.st_mtime_ns))
        # A status change still goes out at once.
        self.sim.set_check("foo-app01", "service:foo-app", "critical",
                           service_id="foo-app")
        self.wait_file("192.0.2.12 foo-app02.app\n"
                       "192.0.2.13 foo-app03.app\n")

    def test_template_printing_output_sees_it(self):
        with open(self.tmpl, "w") as f:
            f.write('{{ range service "foo-app" }}{{ .Address }} '
                    '{{ .Node }}.app{{ range .Checks }}'
                    '{{ if eq .CheckID "service:foo-app" }} # {{ .Output }}'
                    '{{ end }}{{ end }}\n{{ end }}')
        self.daemon()
        self.wait_file(lambda t: t is not None and "200 OK" in t)
        self.write_output("HTTP GET /health: 200 OK (fresh)")
        self.wait_file(lambda t: t is not None and "(fresh)" in t)


if __name__ == "__main__":
    unittest.main()
