"""The first vertical slice: -once -dry renders the seed catalog exactly."""

import unittest

from harness import HOSTS_TMPL, run, start_sim

HEADER = "# consul-hosts: rendered from the Consul catalog; edits here are replaced.\n"

NODES = [
    ("192.0.2.1", "consul-server-1"),
    ("192.0.2.11", "foo-app01"),
    ("192.0.2.12", "foo-app02"),
    ("192.0.2.13", "foo-app03"),
    ("192.0.2.111", "foo-db-master"),
    ("192.0.2.112", "foo-db-slave"),
]
SERVICES = [
    ("192.0.2.1", "consul"),
    ("192.0.2.11", "foo-app"),
    ("192.0.2.12", "foo-app"),
    ("192.0.2.13", "foo-app"),
    ("192.0.2.111", "foo-db"),
    ("192.0.2.112", "foo-db"),
]


def expected(skip_node=None):
    out = HEADER
    for addr, node in NODES:
        if node != skip_node:
            out += "%s %s.node.dc1.consul %s\n" % (addr, node, node)
    skip_addr = dict((n, a) for a, n in NODES).get(skip_node)
    for addr, svc in SERVICES:
        if addr != skip_addr:
            out += "%s %s.service.dc1.consul\n" % (addr, svc)
    return out


class DryRender(unittest.TestCase):
    def setUp(self):
        self.sim = start_sim()
        self.addCleanup(self.sim.stop)

    def dry(self, *extra):
        r = run(["-consul-addr", self.sim.address, "-template", HOSTS_TMPL,
                 "-once", "-dry"] + list(extra))
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_seed_catalog_exact(self):
        self.assertEqual(self.dry("-order", "none"), expected())

    def test_deregistered_node_disappears(self):
        self.assertEqual(self.dry("-order", "none"), expected())
        self.sim.deregister_node("foo-app02")
        out = self.dry("-order", "none")
        self.assertEqual(out, expected(skip_node="foo-app02"))
        self.assertNotIn("192.0.2.12", out)

    def test_default_order_is_a_stable_permutation(self):
        base = self.dry("-order", "none")
        first = self.dry()
        # Same lines, possibly another order, and the same bytes every time.
        self.assertEqual(sorted(first.splitlines()), sorted(base.splitlines()))
        for _ in range(3):
            self.assertEqual(self.dry(), first)

    def test_seed_changes_order_per_node(self):
        firsts = set()
        for i in range(30):
            out = self.dry("-order-seed", "node-%02d" % i)
            app = [l for l in out.splitlines() if "foo-app.service" in l]
            self.assertEqual(len(app), 3)
            firsts.add(app[0].split()[0])
        # 30 nodes over 3 instances: every instance is someone's first.
        self.assertEqual(firsts, {"192.0.2.11", "192.0.2.12", "192.0.2.13"})


if __name__ == "__main__":
    unittest.main()
