"""-explain shows the fleet's first choices and shares for a name.

60 extra nodes (node-01..node-60, no services) plus the seed catalog's 6
nodes make a fleet of 66; foo-app runs on foo-app01..03. -explain renders
the default template (none is configured) once and explains the lines of
foo-app.service.dc1.consul ("foo-app" is the service shortcut): for each
node, the address it writes first, as its own render would.
"""

import re
import unittest

from harness import HOSTS_TMPL, TempDir, run_checked, start_sim

FLEET = 66
INSTANCES = {"192.0.2.11": "foo-app01", "192.0.2.12": "foo-app02",
             "192.0.2.13": "foo-app03"}


def parse_explain(text):
    """({node: first instance node}, {instance: count})."""
    firsts, counts = {}, {}
    section = None
    for line in text.splitlines():
        if line.startswith("NODE"):
            section = "nodes"
            continue
        if line.startswith("ADDRESS"):
            section = "shares"
            continue
        f = line.split()
        if not f:
            section = None if section == "shares" else section
            continue
        if section == "nodes" and len(f) == 2:
            firsts[f[0]] = INSTANCES[f[1]]
        elif section == "shares" and len(f) >= 3:
            counts[INSTANCES[f[0]]] = int(f[2])
    return firsts, counts


class Explain(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = start_sim()
        for i in range(1, 61):
            cls.sim.register_node("node-%02d" % i, "10.1.0.%d" % i)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def explain(self, *extra, name="foo-app"):
        r = run_checked(["-consul-addr", self.sim.address, "-explain",
                         name] + list(extra))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("names:     foo-app.service.dc1.consul\n", r.stdout)
        firsts, counts = parse_explain(r.stdout)
        self.assertEqual(len(firsts), FLEET, r.stdout)
        self.assertEqual(sorted(counts), sorted(INSTANCES.values()),
                         r.stdout)
        self.assertEqual(sum(counts.values()), FLEET)
        # The table and the shares agree.
        for inst, n in counts.items():
            self.assertEqual(sum(1 for v in firsts.values() if v == inst),
                             n)
        return r.stdout, firsts, counts

    def first_in_render(self, seed, *extra):
        """The foo-app instance a -once -dry render with seed puts first."""
        tmp = TempDir()
        self.addCleanup(tmp.cleanup)
        r = run_checked(["-consul-addr", self.sim.address, "-template",
                         HOSTS_TMPL + ":" + tmp.join("hosts"), "-once",
                         "-dry", "-order-seed", seed] + list(extra))
        self.assertEqual(r.returncode, 0, r.stderr)
        for line in r.stdout.splitlines():
            if line.endswith(" foo-app.service.dc1.consul"):
                return INSTANCES[line.split()[0]], r.stdout
        self.fail("no foo-app line:\n" + r.stdout)

    def test_stable_shares_near_a_third(self):
        out, firsts, counts = self.explain()
        self.assertIn("mode:      stable", out)
        # The full name explains the same group.
        out2, _, _ = self.explain(name="foo-app.service.dc1.consul")
        self.assertEqual(out, out2)
        # Binomial(66, 1/3): mean 22, sd 3.8. HRW is deterministic, so
        # this is a fixed outcome; the bound is 3 sd (10..34) so any
        # reasonable hash passes and a constant or skewed one does not.
        for inst, n in counts.items():
            self.assertGreaterEqual(n, 10, out)
            self.assertLessEqual(n, 34, out)
        m = re.search(r"max - min (\d+)", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(int(m.group(1)),
                         max(counts.values()) - min(counts.values()))

    def test_stable_explain_matches_the_render(self):
        _, firsts, _ = self.explain()
        for node in ("node-07", "node-33", "foo-app02"):
            first, _ = self.first_in_render(node)
            self.assertEqual(first, firsts[node], node)

    def test_balanced_is_exact(self):
        out, firsts, counts = self.explain("-order", "balanced")
        self.assertLessEqual(max(counts.values()) - min(counts.values()), 1,
                             out)
        self.assertEqual(sorted(counts.values()), [22, 22, 22])
        for node in ("node-07", "node-60"):
            first, _ = self.first_in_render(node, "-order", "balanced")
            self.assertEqual(first, firsts[node], node)

    def test_seeded_dry_render_is_byte_identical(self):
        _, a = self.first_in_render("node-07")
        _, b = self.first_in_render("node-07")
        self.assertEqual(a, b)

    def test_index_zero_is_the_same_on_every_node(self):
        """Templates render consul-template's order: the first instance
        a template picks is the same whatever the node's seed."""
        tmp = TempDir()
        self.addCleanup(tmp.cleanup)
        tmpl = tmp.write("primary.tmpl",
                         '{{ with index (service "foo-app") 0 }}'
                         '{{ .Address }} primary.foo-app{{ end }}\n')
        seen = set()
        for seed in ("node-01", "node-02", "node-33", "foo-app03"):
            r = run_checked(["-consul-addr", self.sim.address, "-template",
                             tmpl + ":" + tmp.join("out"), "-once", "-dry",
                             "-order-seed", seed])
            self.assertEqual(r.returncode, 0, r.stderr)
            seen.add(r.stdout)
        self.assertEqual(seen, {"192.0.2.11 primary.foo-app\n"})

    def test_unknown_service_fails_clearly(self):
        r = run_checked(["-consul-addr", self.sim.address, "-explain",
                         "no-such-service"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("no-such-service", r.stderr)
        self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main()
