"""The examples the package ships (packaging/examples/) are true.

Each example config, with its host paths moved into a temp dir (the
packaged template, the destination, the token and TLS files) and its
command replaced by a counter, passes -parse-only; those for a local agent
render the packaged template against the Consul simulator with -once and
-once -dry -diff; each dnsmasq.conf names the file (or directory) its
config writes.
"""

import os
import re
import unittest

from harness import (SRC, DaemonCase, count_lines, counter_command,
                     hcl_string, read_or_none, run_checked)

EXAMPLES = os.path.join(SRC, "packaging", "examples")
TEMPLATE = os.path.join(SRC, "templates", "hosts.ctmpl")
CONFIGS = ("managed-etc-hosts", "addn-hosts", "hostsdir", "remote-consul-tls")


class Examples(DaemonCase):
    def prepare(self, name, local=True):
        """The example's config with host paths made local; returns (config
        path, destination path, the destination the example names)."""
        with open(os.path.join(EXAMPLES, name, "config.hcl")) as f:
            text = f.read()
        named = re.search(r'destination\s*=\s*"([^"]+)"', text).group(1)
        dest = self.tmp.join(name + ".hosts")
        text = text.replace('"/etc/consul-hosts/hosts.ctmpl"',
                            hcl_string(TEMPLATE))
        text = text.replace('"%s"' % named, hcl_string(dest))
        text = re.sub(r'command\s*=\s*"(?:[^"\\]|\\.)*"',
                      "command = " + hcl_string(
                          counter_command(self.counter)), text)
        for m in set(re.findall(r'"(/etc/consul-hosts/[^"]+)"', text)):
            local_path = self.tmp.write(os.path.basename(m),
                                        "s3cr3t-token\n")
            text = text.replace('"%s"' % m, hcl_string(local_path))
        if local:
            text = re.sub(r'address\s*=\s*"[^"]+"',
                          "address = " + hcl_string(self.sim.address), text)
        return self.tmp.write(name + ".hcl", text), dest, named

    def test_every_example_parses(self):
        for name in CONFIGS:
            cfg, _, _ = self.prepare(name, local=False)
            r = run_checked(["-config", cfg, "-parse-only"])
            self.assertEqual(r.returncode, 0, name + ": " + r.stderr)
            self.assertIn("configuration OK", r.stdout)

    def test_local_examples_render(self):
        for name in ("managed-etc-hosts", "addn-hosts", "hostsdir"):
            cfg, dest, _ = self.prepare(name)
            if name == "managed-etc-hosts":
                with open(dest, "w") as f:
                    f.write("127.0.0.1 localhost\n")
            r = run_checked(["-config", cfg, "-once", "-dry", "-diff"])
            self.assertEqual(r.returncode, 1, name + ": " + r.stderr)
            self.assertIn("+192.0.2.11 foo-app01.node.consul", r.stdout)
            before = count_lines(self.counter)
            r = run_checked(["-config", cfg, "-once"])
            self.assertEqual(r.returncode, 0, name + ": " + r.stderr)
            text = read_or_none(dest)
            self.assertIn("foo-app.service.consul", text)
            if name == "managed-etc-hosts":
                self.assertTrue(text.startswith("127.0.0.1 localhost\n"))
                self.assertIn("# BEGIN consul-hosts\n", text)
                self.assertEqual(count_lines(self.counter), before + 1)
            elif name == "hostsdir":
                self.assertEqual(count_lines(self.counter), before)

    def test_dnsmasq_snippets_name_what_is_written(self):
        for name, key in (("addn-hosts", "addn-hosts"),
                          ("hostsdir", "hostsdir")):
            _, _, named = self.prepare(name)
            with open(os.path.join(EXAMPLES, name, "dnsmasq.conf")) as f:
                lines = [l.strip() for l in f if not l.startswith("#")]
            want = named if key == "addn-hosts" else os.path.dirname(named)
            self.assertIn("%s=%s" % (key, want), lines)

    def test_dropins_are_units(self):
        dropins = [f for f in os.listdir(EXAMPLES) if f.endswith(".conf")]
        self.assertIn("node-exporter-textfile.conf", dropins)
        for f in dropins:
            with open(os.path.join(EXAMPLES, f)) as fh:
                self.assertIn("\n[Service]\n", fh.read(), f)


if __name__ == "__main__":
    unittest.main()
