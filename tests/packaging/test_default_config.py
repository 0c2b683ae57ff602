"""The shipped default config and template do what the package promises.

packaging/consul-hosts.hcl + templates/hosts.ctmpl, run by the real binary
against the Consul API simulator on loopback, with only three things
rewritten so the test needs no root: the template path, /etc/hosts (a temp
file with an operator's own lines) and the dnsmasq SIGHUP command (a line
appended to a log). Checked: the operator's lines are kept byte for byte,
the managed block holds every node and healthy service instance under its
Consul DNS names, an unchanged catalog writes nothing and signals nothing,
a change rewrites only the block and signals once, a node leaving is
published at once (failover first), and a restore that empties the
catalog never empties the block.

Run by packaging/build-rpm.sh with CH_BIN, CH_CONFIG and CH_TEMPLATE set
to the binary, config.hcl and hosts.ctmpl installed from the RPM;
standalone: CH_BIN=build/consul-hosts python3 tests/packaging/test_default_config.py
"""

import os
import re
import sys
import unittest

SRC = os.environ.get("CH_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))

from harness import TempDir, run, start_sim  # noqa: E402

# build-rpm.sh points these at the files installed from the RPM.
CONFIG = os.environ.get("CH_CONFIG") or os.path.join(
    SRC, "packaging", "consul-hosts.hcl")
TEMPLATE = os.environ.get("CH_TEMPLATE") or os.path.join(
    SRC, "templates", "hosts.ctmpl")

OPERATOR = ("127.0.0.1\tlocalhost\n"
            "::1 localhost ip6-localhost ip6-loopback\n"
            "# my own entry, keep it\n"
            "10.9.8.7 build-cache.internal\n")

NODES = {
    "consul-server-1": "192.0.2.1",
    "foo-app01": "192.0.2.11",
    "foo-app02": "192.0.2.12",
    "foo-app03": "192.0.2.13",
    "foo-db-master": "192.0.2.111",
    "foo-db-slave": "192.0.2.112",
}
SERVICES = [
    ("192.0.2.1", "consul"),
    ("192.0.2.11", "foo-app"),
    ("192.0.2.12", "foo-app"),
    ("192.0.2.13", "foo-app"),
    ("192.0.2.111", "foo-db"),
    ("192.0.2.112", "foo-db"),
]


def shipped_config(template, hosts, hup_log):
    """The shipped config.hcl with the three host-specific values swapped."""
    with open(CONFIG) as f:
        text = f.read()
    subs = [
        (r'(?m)^(  source\s*=\s*)"/etc/consul-hosts/hosts\.ctmpl"',
         r'\1"%s"' % template),
        (r'(?m)^(  destination\s*=\s*)"/etc/hosts"', r'\1"%s"' % hosts),
        (r'(?m)^(  command\s*=\s*)".*"$', r'\1"echo hup >> %s"' % hup_log),
    ]
    for pat, rep in subs:
        text, n = re.subn(pat, rep, text, count=1)
        assert n == 1, "config.hcl no longer has %s" % pat
    return text


def block_of(text):
    m = re.search(r"(?ms)^# BEGIN consul-hosts\n(.*)^# END consul-hosts\n",
                  text)
    assert m, "no managed block in:\n" + text
    return m.group(1)


def entries(block):
    return sorted(l for l in block.splitlines() if l and not l.startswith("#"))


def expected_entries(skip_node=None):
    out = []
    for node, addr in NODES.items():
        if node != skip_node:
            out.append("%s %s.node.consul %s.node.dc1.consul"
                       % (addr, node, node))
    skip_addr = NODES.get(skip_node)
    for addr, svc in SERVICES:
        if addr != skip_addr:
            out.append("%s %s.service.consul %s.service.dc1.consul"
                       % (addr, svc, svc))
    return sorted(out)


class DefaultConfig(unittest.TestCase):
    def setUp(self):
        self.sim = start_sim()
        self.addCleanup(self.sim.stop)
        self.tmp = TempDir()
        self.addCleanup(self.tmp.cleanup)
        self.hosts = self.tmp.write("hosts", OPERATOR)
        self.hup = self.tmp.join("hup.log")
        self.cfg = self.tmp.write(
            "config.hcl", shipped_config(TEMPLATE, self.hosts, self.hup))

    def once(self):
        r = run(["-config", self.cfg, "-consul-addr", self.sim.address,
                 "-once"], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def hups(self):
        if not os.path.exists(self.hup):
            return 0
        with open(self.hup) as f:
            return f.read().count("hup\n")

    def test_parse_only(self):
        r = run(["-parse-only", "-config", self.cfg])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_block_added_operator_lines_kept(self):
        self.once()
        text = self.tmp.read("hosts")
        self.assertTrue(text.startswith(OPERATOR), text)
        self.assertEqual(entries(block_of(text)), expected_entries())
        self.assertEqual(self.hups(), 1)

    def test_unchanged_catalog_writes_nothing(self):
        self.once()
        before = os.stat(self.hosts)
        first = self.tmp.read("hosts")
        self.once()
        self.assertEqual(self.tmp.read("hosts"), first)
        self.assertEqual(os.stat(self.hosts).st_ino, before.st_ino)
        self.assertEqual(self.hups(), 1)

    def test_change_rewrites_only_the_block(self):
        self.once()
        self.sim.register_node("foo-app04", "192.0.2.14")
        self.sim.register_service("foo-app04", name="foo-app", port=8080,
                                  status="passing")
        self.once()
        text = self.tmp.read("hosts")
        self.assertTrue(text.startswith(OPERATOR), text)
        want = expected_entries() + [
            "192.0.2.14 foo-app04.node.consul foo-app04.node.dc1.consul",
            "192.0.2.14 foo-app.service.consul foo-app.service.dc1.consul"]
        self.assertEqual(entries(block_of(text)), sorted(want))
        self.assertEqual(self.hups(), 2)

    def test_node_leaving_is_published_at_once(self):
        # Failover first: a node leaving drops its names to zero entries;
        # the default config writes that at once and signals dnsmasq.
        self.once()
        self.sim.deregister_node("foo-app02")
        self.once()
        text = self.tmp.read("hosts")
        self.assertNotIn("foo-app02", text)
        self.assertNotIn("held since", text)
        self.assertEqual(self.hups(), 2)

    def test_emptied_catalog_never_empties_the_block(self):
        self.once()
        first = self.tmp.read("hosts")
        for n in list(self.sim.st.nodes):
            self.sim.deregister_node(n)
        r = run(["-config", self.cfg, "-consul-addr", self.sim.address,
                 "-once"], timeout=60)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn("not publishing", r.stderr)
        self.assertEqual(self.tmp.read("hosts"), first)
        self.assertEqual(self.hups(), 1)

if __name__ == "__main__":
    unittest.main()
