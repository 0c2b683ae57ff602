#!/usr/bin/env python3
"""The simulator against consul-fixtures/ byte for byte (but for indexes).

A seed catalog is built from the fixtures' own cluster (catalog-nodes.json
and health-service-web.json, plus the other services catalog-services.json
names), loaded through the ordinary seed loader, and every endpoint the
fixtures mirror is compared with its fixture after dropping CreateIndex /
ModifyIndex (the simulator numbers its own writes).  Skipped when the
fixtures are not beside the checkout."""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import consul_sim  # noqa: E402
from test_sim import FIXTURES, request  # noqa: E402


def load(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


def strip_indexes(v):
    if isinstance(v, dict):
        return {k: strip_indexes(x) for k, x in v.items()
                if k not in ("CreateIndex", "ModifyIndex")}
    if isinstance(v, list):
        return [strip_indexes(x) for x in v]
    return v


def fixture_seed():
    """A seed catalog describing the fixtures' dc1."""
    nodes = {n["Node"]: dict(n, Services=[], Checks=[])
             for n in load("catalog-nodes.json")}
    for n in nodes.values():
        del n["CreateIndex"], n["ModifyIndex"]
    seen_checks = set()
    for e in load("health-service-web.json"):
        node = nodes[e["Node"]["Node"]]
        s = e["Service"]
        svc = {"ID": s["ID"], "Name": s["Service"], "Tags": s["Tags"],
               "Address": s["Address"], "Port": s["Port"],
               "Meta": s["Meta"], "Weights": s["Weights"], "Checks": []}
        for c in e["Checks"]:
            chk = {k: c[k] for k in ("CheckID", "Name", "Status", "Notes",
                                     "Output", "Type", "Interval",
                                     "Timeout")}
            if c["ServiceID"]:
                svc["Checks"].append(chk)
            elif (node["Node"], c["CheckID"]) not in seen_checks:
                seen_checks.add((node["Node"], c["CheckID"]))
                node["Checks"].append(chk)
        node["Services"].append(svc)
    services = load("catalog-services.json")
    homes = {"consul": "consul-server-1", "db": "db-1", "redis": "db-1",
             "billing-api": "ext-billing"}
    for name, home in homes.items():
        nodes[home]["Services"].append({"ID": name, "Name": name,
                                        "Tags": services[name],
                                        "Port": 1})
    return {"Datacenter": "dc1", "Datacenters": ["dc1", "dc2"],
            "Leader": "10.0.1.10:8300",
            "Agent": {"NodeName": "web-1", "Address": "10.0.2.11"},
            "Nodes": list(nodes.values())}


@unittest.skipIf(FIXTURES is None, "consul-fixtures/ not available")
class TestAgainstFixtures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = consul_sim.ConsulSim(seed=fixture_seed())
        cls.sim.start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def same(self, path, fixture, fix=None):
        r = request(self.sim, path)
        self.assertEqual(r.status, 200)
        got = strip_indexes(r.json())
        want = strip_indexes(load(fixture))
        if fix:
            want = fix(want)
        self.assertEqual(got, want, path)
        return r

    def test_catalog_nodes(self):
        self.same("/v1/catalog/nodes", "catalog-nodes.json")

    def test_catalog_services(self):
        self.same("/v1/catalog/services", "catalog-services.json")

    def test_catalog_service_web(self):
        self.same("/v1/catalog/service/web", "catalog-service-web.json")

    def test_catalog_node_web_2(self):
        self.same("/v1/catalog/node/web-2", "catalog-node-web-2.json")

    def test_catalog_node_unknown(self):
        r = request(self.sim, "/v1/catalog/node/no-such-node")
        self.assertEqual(r.json(), load("catalog-node-unknown.json"))

    def test_health_service_web(self):
        self.same("/v1/health/service/web", "health-service-web.json")

    def test_health_service_web_passing(self):
        self.same("/v1/health/service/web?passing",
                  "health-service-web-passing.json")

    def test_datacenters_and_leader(self):
        self.same("/v1/catalog/datacenters", "catalog-datacenters.json")
        self.same("/v1/status/leader", "status-leader.json")

    def test_index_is_max_modify_index(self):
        for path in ("/v1/catalog/nodes", "/v1/health/service/web",
                     "/v1/catalog/service/web"):
            r = request(self.sim, path)
            body = json.dumps(r.json())
            mods = [int(x) for x in
                    body.split('"ModifyIndex": ')[1:] for x in
                    [x.split(",")[0].split("}")[0]]]
            self.assertEqual(r.index, max(mods), path)


if __name__ == "__main__":
    unittest.main()
