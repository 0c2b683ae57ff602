#!/usr/bin/env python3
"""Tests of tests/sim/consul_sim.py against the Consul API contract
(reference/consul-api.md) and the shapes in consul-fixtures/."""

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import consul_sim  # noqa: E402

SEED = os.path.join(HERE, "seed-catalog.json")
SOURCE = os.environ.get("CH_SOURCE_DIR", os.path.dirname(os.path.dirname(
    HERE)))
FIXTURES = None
for cand in (os.environ.get("CH_CONSUL_FIXTURES", ""),
             os.path.join(SOURCE, "..", "shared", "consul-fixtures"),
             os.path.join(SOURCE, "tests", "consul-fixtures"),
             "/work/shared/consul-fixtures"):
    if cand and os.path.isdir(cand):
        FIXTURES = cand
        break

TIMEOUT = 10.0


def load_factor():
    """How much slower than an idle machine this one runs now: upper
    bounds on elapsed time scale with it (a 2-core CI box running two
    test files and compilers is well above 1)."""
    try:
        per_cpu = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        per_cpu = 1.0
    return max(1.0, per_cpu)

# One object per shape, copied from consul-fixtures/ (checked against
# the files by test_embedded_shapes_match_fixtures when they exist).
SHAPES = json.loads(r'''
{
 "catalog-nodes.json": {
  "ID": "b1f2a2d4-7c1e-4d33-9a0e-6c2f1d8e5a10",
  "Node": "consul-server-1",
  "Address": "10.0.1.10",
  "Datacenter": "dc1",
  "TaggedAddresses": {
   "lan": "10.0.1.10",
   "lan_ipv4": "10.0.1.10",
   "wan": "10.0.1.10",
   "wan_ipv4": "10.0.1.10"
  },
  "Meta": {
   "consul-network-segment": "",
   "consul-version": "1.21.3"
  },
  "CreateIndex": 12,
  "ModifyIndex": 14
 },
 "catalog-service-web.json": {
  "ID": "e2905f94-53d1-410f-88f3-1f5853a89f01",
  "Node": "web-1",
  "Address": "10.0.2.11",
  "Datacenter": "dc1",
  "TaggedAddresses": {
   "lan": "10.0.2.11",
   "lan_ipv4": "10.0.2.11",
   "wan": "10.0.2.11",
   "wan_ipv4": "10.0.2.11"
  },
  "NodeMeta": {
   "consul-network-segment": "",
   "consul-version": "1.21.3"
  },
  "ServiceKind": "",
  "ServiceID": "web",
  "ServiceName": "web",
  "ServiceTags": [
   "prod",
   "v2"
  ],
  "ServiceAddress": "",
  "ServiceWeights": {
   "Passing": 10,
   "Warning": 1
  },
  "ServiceMeta": {
   "version": "2.4.1"
  },
  "ServicePort": 8080,
  "ServiceSocketPath": "",
  "ServiceEnableTagOverride": false,
  "ServiceProxy": {
   "Mode": "",
   "MeshGateway": {},
   "Expose": {}
  },
  "ServiceConnect": {},
  "ServiceLocality": null,
  "CreateIndex": 45,
  "ModifyIndex": 45
 },
 "health-service-web.json": {
  "Node": {
   "ID": "e2905f94-53d1-410f-88f3-1f5853a89f01",
   "Node": "web-1",
   "Address": "10.0.2.11",
   "Datacenter": "dc1",
   "TaggedAddresses": {
    "lan": "10.0.2.11",
    "lan_ipv4": "10.0.2.11",
    "wan": "10.0.2.11",
    "wan_ipv4": "10.0.2.11"
   },
   "Meta": {
    "consul-network-segment": "",
    "consul-version": "1.21.3"
   },
   "CreateIndex": 21,
   "ModifyIndex": 23
  },
  "Service": {
   "ID": "web",
   "Service": "web",
   "Tags": [
    "prod",
    "v2"
   ],
   "Address": "",
   "Meta": {
    "version": "2.4.1"
   },
   "Port": 8080,
   "Weights": {
    "Passing": 10,
    "Warning": 1
   },
   "EnableTagOverride": false,
   "Proxy": {
    "Mode": "",
    "MeshGateway": {},
    "Expose": {}
   },
   "Connect": {},
   "PeerName": "",
   "CreateIndex": 45,
   "ModifyIndex": 45
  },
  "Checks": [
   {
    "Node": "web-1",
    "CheckID": "serfHealth",
    "Name": "Serf Health Status",
    "Status": "passing",
    "Notes": "",
    "Output": "Agent alive and reachable",
    "ServiceID": "",
    "ServiceName": "",
    "ServiceTags": [],
    "Type": "",
    "Interval": "",
    "Timeout": "",
    "ExposedPort": 0,
    "Definition": {},
    "CreateIndex": 22,
    "ModifyIndex": 22
   },
   {
    "Node": "web-1",
    "CheckID": "service:web",
    "Name": "Service 'web' check",
    "Status": "passing",
    "Notes": "",
    "Output": "HTTP GET http://10.0.2.11:8080/health: 200 OK Output: ok",
    "ServiceID": "web",
    "ServiceName": "web",
    "ServiceTags": [
     "prod",
     "v2"
    ],
    "Type": "http",
    "Interval": "10s",
    "Timeout": "5s",
    "ExposedPort": 0,
    "Definition": {},
    "CreateIndex": 46,
    "ModifyIndex": 880
   }
  ]
 },
 "catalog-node-web-2.json": {
  "Node": {
   "ID": "0d7c4b1a-9e2f-4a6b-b3c8-71e5f0a2d402",
   "Node": "web-2",
   "Address": "10.0.2.12",
   "Datacenter": "dc1",
   "TaggedAddresses": {
    "lan": "10.0.2.12",
    "lan_ipv4": "10.0.2.12",
    "wan": "198.51.100.12",
    "wan_ipv4": "198.51.100.12"
   },
   "Meta": {
    "consul-network-segment": "",
    "consul-version": "1.21.3"
   },
   "CreateIndex": 25,
   "ModifyIndex": 27
  },
  "Services": {
   "web-blue": {
    "ID": "web-blue",
    "Service": "web",
    "Tags": [
     "prod",
     "v2"
    ],
    "Address": "172.17.0.3",
    "TaggedAddresses": {
     "lan_ipv4": {
      "Address": "172.17.0.3",
      "Port": 8080
     },
     "wan_ipv4": {
      "Address": "172.17.0.3",
      "Port": 8080
     }
    },
    "Meta": {
     "color": "blue",
     "version": "2.4.1"
    },
    "Port": 8080,
    "Weights": {
     "Passing": 1,
     "Warning": 1
    },
    "EnableTagOverride": false,
    "Proxy": {
     "Mode": "",
     "MeshGateway": {},
     "Expose": {}
    },
    "Connect": {},
    "PeerName": "",
    "CreateIndex": 52,
    "ModifyIndex": 52
   },
   "web-green": {
    "ID": "web-green",
    "Service": "web",
    "Tags": [
     "prod",
     "v2",
     "canary"
    ],
    "Address": "172.17.0.4",
    "TaggedAddresses": {
     "lan_ipv4": {
      "Address": "172.17.0.4",
      "Port": 8081
     },
     "wan_ipv4": {
      "Address": "172.17.0.4",
      "Port": 8081
     }
    },
    "Meta": {
     "color": "green",
     "version": "2.5.0-rc1"
    },
    "Port": 8081,
    "Weights": {
     "Passing": 1,
     "Warning": 1
    },
    "EnableTagOverride": false,
    "Proxy": {
     "Mode": "",
     "MeshGateway": {},
     "Expose": {}
    },
    "Connect": {},
    "PeerName": "",
    "CreateIndex": 60,
    "ModifyIndex": 60
   }
  }
 },
 "kv-recurse.json": {
  "LockIndex": 0,
  "Key": "hostsd/config/header",
  "Flags": 0,
  "Value": "IyBtYW5hZ2VkIGJ5IGhvc3RzZAo=",
  "CreateIndex": 203,
  "ModifyIndex": 377
 }
}
''')
SHAPE_PATHS = {'catalog-nodes.json': '[0]', 'catalog-service-web.json': '[0]', 'health-service-web.json': '[0]', 'catalog-node-web-2.json': '', 'kv-recurse.json': '[1]'}
AGENT_SELF = json.loads(r'''
{
 "Config": {
  "Datacenter": "dc1",
  "NodeName": "web-1",
  "NodeID": "e2905f94-53d1-410f-88f3-1f5853a89f01",
  "Server": false,
  "Revision": "deadbeef",
  "Version": "1.21.3"
 },
 "Member": {
  "Name": "web-1",
  "Addr": "10.0.2.11",
  "Port": 8301,
  "Tags": {
   "build": "1.21.3:deadbeef",
   "dc": "dc1",
   "id": "e2905f94-53d1-410f-88f3-1f5853a89f01",
   "role": "node",
   "segment": "",
   "vsn": "2",
   "vsn_max": "3",
   "vsn_min": "2"
  },
  "Status": 1,
  "ProtocolMin": 1,
  "ProtocolMax": 5,
  "ProtocolCur": 2,
  "DelegateMin": 2,
  "DelegateMax": 5,
  "DelegateCur": 4
 }
}
''')


def fixture(name):
    """The embedded copy of a fixture's first object of each shape."""
    if name == "agent-self.json":
        return AGENT_SELF
    obj = SHAPES[name]
    return [obj] if SHAPE_PATHS[name] else obj


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def index(self):
        return int(self.headers["x-consul-index"])


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def request(sim, path, method="GET", headers=None, body=None,
            timeout=TIMEOUT, unix=None):
    if unix:
        conn = UnixHTTPConnection(unix, timeout)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", sim.port,
                                          timeout=timeout)
    try:
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, r.getheaders(), data)
    finally:
        conn.close()


def keys_and_types(test, got, want, where):
    """Every key of the fixture object is present with the same JSON type,
    except keys that are nullable on the wire."""
    for k, v in want.items():
        test.assertIn(k, got, "%s: key %s missing" % (where, k))
        if v is None or got[k] is None:
            continue
        test.assertIs(type(got[k]), type(v),
                      "%s: key %s has type %s, fixture %s" % (
                          where, k, type(got[k]).__name__,
                          type(v).__name__))


class TestFixtureCopies(unittest.TestCase):
    @unittest.skipIf(FIXTURES is None, "consul-fixtures/ not available")
    def test_embedded_shapes_match_fixtures(self):
        for name, path in SHAPE_PATHS.items():
            with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
                doc = json.load(f)
            if path:
                doc = doc[int(path[1:-1])]
            self.assertEqual(doc, SHAPES[name], name)
        with open(os.path.join(FIXTURES, "agent-self.json")) as f:
            doc = json.load(f)
        self.assertEqual(doc["Config"], AGENT_SELF["Config"])
        self.assertEqual(doc["Member"], AGENT_SELF["Member"])


class SimCase(unittest.TestCase):
    token = None

    def setUp(self):
        self.sim = consul_sim.ConsulSim(seed=SEED,
                                        token_required=self.token)
        self.sim.start()
        self.addCleanup(self.sim.stop)

    def get(self, path, **kw):
        return request(self.sim, path, **kw)

    def in_thread(self, fn):
        """Run fn in a thread; return a function that joins and returns
        its result (re-raising its exception)."""
        box = {}

        def run():
            try:
                box["v"] = fn()
            except BaseException as e:  # noqa: B902
                box["e"] = e

        t = threading.Thread(target=run, daemon=True)
        t.start()

        def join(timeout=TIMEOUT):
            t.join(timeout)
            self.assertFalse(t.is_alive(), "request did not return")
            if "e" in box:
                raise box["e"]
            return box["v"]
        return join


class TestShapes(SimCase):
    def test_catalog_nodes(self):
        r = self.get("/v1/catalog/nodes")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "application/json")
        body = r.json()
        self.assertEqual([n["Node"] for n in body],
                         ["consul-server-1", "foo-app01", "foo-app02",
                          "foo-app03", "foo-db-master", "foo-db-slave"])
        want = fixture("catalog-nodes.json")[0]
        for n in body:
            keys_and_types(self, n, want, "catalog/nodes")
            self.assertEqual(list(n.keys()), list(want.keys()))
        self.assertEqual(r.index, max(n["ModifyIndex"] for n in body))

    def test_catalog_services(self):
        r = self.get("/v1/catalog/services")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"consul": [], "foo-app": [],
                                    "foo-db": ["master", "slave"]})
        self.assertGreaterEqual(r.index, 1)

    def test_catalog_service(self):
        r = self.get("/v1/catalog/service/foo-app")
        self.assertEqual(r.status, 200)
        body = r.json()
        self.assertEqual([(s["Node"], s["Address"], s["ServicePort"],
                           s["ServiceID"]) for s in body],
                         [("foo-app01", "192.0.2.11", 8080, "foo-app"),
                          ("foo-app02", "192.0.2.12", 8080, "foo-app"),
                          ("foo-app03", "192.0.2.13", 8080, "foo-app")])
        want = fixture("catalog-service-web.json")[0]
        for s in body:
            keys_and_types(self, s, want, "catalog/service")
            self.assertEqual(s["ServiceAddress"], "")
            self.assertNotIn("ServiceTaggedAddresses", s)
        db = self.get("/v1/catalog/service/foo-db?tag=master").json()
        self.assertEqual([s["Node"] for s in db], ["foo-db-master"])
        self.assertEqual(self.get("/v1/catalog/service/nosuch").json(), [])

    def test_service_address_shapes(self):
        self.sim.register_service("foo-app01", "web", "web-1",
                                  address="10.0.0.5", port=81)
        s = self.get("/v1/catalog/service/web").json()[0]
        self.assertEqual(s["ServiceTaggedAddresses"]["lan_ipv4"],
                         {"Address": "10.0.0.5", "Port": 81})
        h = self.get("/v1/health/service/web").json()[0]
        self.assertEqual(h["Service"]["TaggedAddresses"]["wan_ipv4"],
                         {"Address": "10.0.0.5", "Port": 81})
        self.assertIsNone(h["Service"]["Meta"])

    def test_catalog_node(self):
        r = self.get("/v1/catalog/node/foo-db-slave")
        body = r.json()
        want = fixture("catalog-node-web-2.json")
        keys_and_types(self, body["Node"], want["Node"], "node.Node")
        svc = body["Services"]["foo-db"]
        want_svc = dict(want["Services"]["web-blue"])
        del want_svc["TaggedAddresses"]   # absent without an address
        keys_and_types(self, svc, want_svc, "node.Services")
        self.assertEqual(svc["Tags"], ["slave"])
        r = self.get("/v1/catalog/node/no-such-node")
        self.assertEqual((r.status, r.body), (200, b"null"))
        self.assertGreaterEqual(r.index, 1)

    def test_health_service(self):
        r = self.get("/v1/health/service/foo-app")
        body = r.json()
        self.assertEqual(len(body), 3)
        want = fixture("health-service-web.json")[0]
        for e in body:
            keys_and_types(self, e["Node"], want["Node"], "health.Node")
            keys_and_types(self, e["Service"], want["Service"],
                           "health.Service")
            self.assertEqual([c["CheckID"] for c in e["Checks"]],
                             ["serfHealth", "service:foo-app"])
            for c in e["Checks"]:
                keys_and_types(self, c, want["Checks"][0], "health.Check")
            self.assertEqual(e["Checks"][1]["ServiceName"], "foo-app")
        self.assertEqual(r.index, max(
            max(e["Service"]["ModifyIndex"], e["Node"]["ModifyIndex"],
                *[c["ModifyIndex"] for c in e["Checks"]]) for e in body))
        self.assertEqual(self.get("/v1/health/service/nosuch").json(), [])

    def test_datacenters_leader_self(self):
        r = self.get("/v1/catalog/datacenters")
        self.assertEqual(r.json(), ["dc1"])
        self.assertNotIn("x-consul-index", r.headers)
        r = self.get("/v1/status/leader")
        self.assertEqual(r.json(), "192.0.2.1:8300")
        r = self.get("/v1/agent/self")
        body = r.json()
        want = fixture("agent-self.json")
        for k in ("Config", "DebugConfig", "Coord", "Member", "Meta"):
            self.assertIn(k, body)
        keys_and_types(self, body["Config"], want["Config"], "Config")
        keys_and_types(self, body["Member"], want["Member"], "Member")
        self.assertEqual(body["Config"]["NodeName"], "consul-server-1")
        self.assertEqual(body["Config"]["Datacenter"], "dc1")
        self.sim.set_leader("")
        self.assertEqual(self.get("/v1/status/leader").body, b'""')

    def test_kv(self):
        self.sim.kv_set("hostsd/", None)
        self.sim.kv_set("hostsd/config/ttl", "30")
        self.sim.kv_set("hostsd/extra/binary-blob", b"\x00\xffbin\n",
                        flags=42)
        self.sim.kv_set("hostsd/leader", "web-1", session="sess-1")
        r = self.get("/v1/kv/hostsd/?recurse")
        body = r.json()
        want = fixture("kv-recurse.json")[0]
        for e in body:
            keys_and_types(self, e, want, "kv")
        self.assertEqual([e["Key"] for e in body],
                         ["hostsd/", "hostsd/config/ttl",
                          "hostsd/extra/binary-blob", "hostsd/leader"])
        self.assertIsNone(body[0]["Value"])
        self.assertEqual(base64.b64decode(body[2]["Value"]),
                         b"\x00\xffbin\n")
        self.assertEqual(body[3]["Session"], "sess-1")
        self.assertEqual(body[3]["LockIndex"], 1)
        self.assertEqual(r.index, max(e["ModifyIndex"] for e in body))
        r = self.get("/v1/kv/hostsd/config/ttl")
        self.assertEqual(len(r.json()), 1)
        self.assertEqual(r.index, r.json()[0]["ModifyIndex"])
        r = self.get("/v1/kv/hostsd/?keys&separator=/")
        self.assertEqual(r.json(), ["hostsd/", "hostsd/config/",
                                    "hostsd/extra/", "hostsd/leader"])
        self.assertEqual(self.get("/v1/kv/?keys").json()[0],
                         "consul-hosts/config/header")
        self.assertEqual(self.get("/v1/kv/").status, 400)
        self.assertEqual(self.get("/v1/kv/").body, b"Missing key name")

    def test_kv_missing_is_404_with_index(self):
        r = self.get("/v1/kv/no/such/key")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.body, b"")
        self.assertGreaterEqual(r.index, 1)
        self.assertIn("x-consul-knownleader", r.headers)
        r = self.get("/v1/kv/no/such/?recurse")
        self.assertEqual(r.status, 404)
        self.assertGreaterEqual(r.index, 1)

    def test_headers(self):
        r = self.get("/v1/catalog/nodes")
        self.assertEqual(r.headers["vary"], "Accept-Encoding")
        self.assertEqual(r.headers["x-consul-knownleader"], "true")
        self.assertEqual(r.headers["x-consul-lastcontact"], "0")
        self.assertEqual(r.headers["x-consul-effective-consistency"],
                         "leader")
        self.assertEqual(r.headers["x-consul-default-acl-policy"], "allow")
        self.assertNotIn("server", r.headers)
        r = self.get("/v1/catalog/nodes?stale=false")
        self.assertEqual(r.headers["x-consul-effective-consistency"],
                         "stale")
        r = self.get("/v1/catalog/nodes?max_stale=5s")
        self.assertEqual(r.headers["x-consul-effective-consistency"],
                         "stale")
        r = self.get("/v1/catalog/nodes?consistent")
        self.assertEqual(r.headers["x-consul-effective-consistency"],
                         "consistent")
        r = self.get("/v1/catalog/nodes?stale&consistent")
        self.assertEqual(r.status, 400)
        self.assertIn(b"Cannot specify ?stale with ?consistent", r.body)
        r = self.get("/v1/catalog/nodes?max_stale=5")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.body, b'Invalid max_stale value "5"')
        r = self.get("/v1/catalog/nodes?ns=team")
        self.assertEqual(r.status, 400)
        self.assertIn(b"Namespaces are a Consul Enterprise feature", r.body)
        r = self.get("/v1/catalog/nodes?dc=nowhere")
        self.assertEqual((r.status, r.body), (500, b"No path to datacenter"))

    def test_large_body_chunked_and_gzip(self):
        for i in range(30):
            self.sim.register_node("n%02d" % i, "10.9.0.%d" % i)
            self.sim.register_service("n%02d" % i, "big", port=1)
        conn = http.client.HTTPConnection("127.0.0.1", self.sim.port,
                                          timeout=TIMEOUT)
        conn.request("GET", "/v1/health/service/big",
                     headers={"Accept-Encoding": "gzip"})
        r = conn.getresponse()
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        import gzip
        self.assertEqual(len(json.loads(gzip.decompress(r.read()))), 30)
        conn.close()


class TestIndexes(SimCase):
    def test_monotonic_and_per_endpoint(self):
        i_nodes = self.get("/v1/catalog/nodes").index
        i_app = self.get("/v1/health/service/foo-app").index
        i_db = self.get("/v1/health/service/foo-db").index
        self.sim.set_check("foo-app02", "service:foo-app", "critical",
                           "foo-app")
        self.assertEqual(self.get("/v1/catalog/nodes").index, i_nodes)
        self.assertEqual(self.get("/v1/health/service/foo-db").index, i_db)
        i_app2 = self.get("/v1/health/service/foo-app").index
        self.assertGreater(i_app2, i_app)
        self.sim.register_node("foo-app04", "192.0.2.14")
        self.assertGreater(self.get("/v1/catalog/nodes").index, i_nodes)
        # deregistration must move the index forward, never back
        i_before = self.get("/v1/catalog/service/foo-app").index
        self.sim.deregister_node("foo-app03")
        self.assertGreater(self.get("/v1/catalog/service/foo-app").index,
                           i_before)
        self.assertGreater(self.get("/v1/health/service/foo-app").index,
                           i_app2)

    def test_node_check_moves_health_index(self):
        i = self.get("/v1/health/service/foo-db").index
        self.sim.set_check("foo-db-slave", "serfHealth", "critical")
        self.assertGreater(self.get("/v1/health/service/foo-db").index, i)

    def test_kv_delete_and_reap(self):
        self.sim.kv_set("p/a", "1")
        self.sim.kv_set("p/b", "2")
        i = self.get("/v1/kv/p/?recurse").index
        self.sim.kv_delete("p/b")
        i2 = self.get("/v1/kv/p/?recurse").index
        self.assertGreater(i2, i)          # tombstone keeps it moving
        self.sim.kv_reap_tombstones()
        i3 = self.get("/v1/kv/p/?recurse").index
        self.assertLess(i3, i2)            # documented backwards case

    def test_zero_index_becomes_one(self):
        sim = consul_sim.ConsulSim()
        sim.start()
        self.addCleanup(sim.stop)
        r = request(sim, "/v1/catalog/nodes")
        self.assertEqual((r.status, r.body, r.index), (200, b"[]", 1))
        r = request(sim, "/v1/kv/x")
        self.assertEqual((r.status, r.index), (404, 1))


class TestBlocking(SimCase):
    def test_wakes_on_change(self):
        i = self.get("/v1/health/service/foo-app").index
        join = self.in_thread(lambda: self.get(
            "/v1/health/service/foo-app?index=%d&wait=30s&passing" % i))
        self.assertTrue(self.sim.await_requests("/v1/health/service/foo-app",
                                                1, 5, blocked=True))
        t0 = time.monotonic()
        self.sim.set_check("foo-app01", "service:foo-app", "critical",
                           "foo-app")
        r = join()
        # Woken by the change, not by the 30 s wait.
        self.assertLess(time.monotonic() - t0, 2.0 * load_factor())
        self.assertEqual(r.status, 200)
        self.assertGreater(r.index, i)
        self.assertEqual([e["Node"]["Node"] for e in r.json()],
                         ["foo-app02", "foo-app03"])
        self.assertEqual(r.headers["x-consul-query-backend"], "streaming")
        self.assertEqual(r.headers["x-consul-knownleader"], "false")

    def test_unrelated_change_does_not_wake(self):
        i = self.get("/v1/catalog/service/foo-db").index
        join = self.in_thread(lambda: self.get(
            "/v1/catalog/service/foo-db?index=%d&wait=1s" % i))
        self.assertTrue(self.sim.await_requests("/v1/catalog/service",
                                                1, 5, blocked=True))
        self.sim.register_service("foo-app01", "other")
        r = join()
        self.assertEqual(r.index, i)
        # The whole wait was served (timed by the handler from the
        # request's start: the test thread may be scheduled late).
        self.assertTrue(self.sim.await_idle(TIMEOUT))
        e = self.sim.requests("/v1/catalog/service/foo-db")["requests"][-1]
        self.assertGreaterEqual(e["duration"], 1.0)

    def test_timeout_returns_same_index(self):
        i = self.get("/v1/catalog/nodes").index
        t0 = time.monotonic()
        r = self.get("/v1/catalog/nodes?index=%d&wait=1s" % i)
        dt = time.monotonic() - t0
        self.assertEqual(r.status, 200)
        self.assertEqual(r.index, i)
        self.assertEqual(len(r.json()), 6)
        self.assertGreaterEqual(dt, 1.0)
        self.assertLess(dt, 1.0 + 1.0 / 16 + 0.5 * load_factor())

    def test_ms_wait_and_future_index(self):
        i = self.get("/v1/catalog/services").index
        t0 = time.monotonic()
        r = self.get("/v1/catalog/services?index=%d&wait=300ms" % (i + 1000))
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertEqual(r.index, i)

    def test_index_zero_does_not_block(self):
        t0 = time.monotonic()
        r = self.get("/v1/catalog/nodes?index=0&wait=30s")
        self.assertEqual(r.status, 200)
        self.assertLess(time.monotonic() - t0, 1.0 * load_factor())

    def test_bad_index_and_wait(self):
        for q, body in (("index=abc", b"Invalid index"),
                        ("index=-1", b"Invalid index"),
                        ("index=18446744073709551616", b"Invalid index"),
                        ("index=1&wait=60", b"Invalid wait time"),
                        ("index=1&wait=5x", b"Invalid wait time"),
                        ("wait=1.5", b"Invalid wait time")):
            r = self.get("/v1/catalog/nodes?" + q)
            self.assertEqual((r.status, r.body), (400, body), q)
        r = self.get("/v1/health/service/foo-app?passing=maybe")
        self.assertEqual((r.status, r.body),
                         (400, b"Invalid value for ?passing"))
        r = self.get("/v1/catalog/nodes?index=18446744073709551615&wait=1ms")
        self.assertEqual(r.status, 200)

    def test_go_durations(self):
        p = consul_sim.parse_go_duration
        self.assertEqual(p("1s"), 1.0)
        self.assertEqual(p("1m30s"), 90.0)
        self.assertAlmostEqual(p("300000ms"), 300.0)
        self.assertAlmostEqual(p("1.5h"), 5400.0)
        self.assertEqual(p("0"), 0.0)
        for bad in ("60", "", "s", "1d", "1s2"):
            self.assertRaises(ValueError, p, bad)

    def test_many_blocked_do_not_block_others(self):
        i = self.get("/v1/catalog/nodes").index
        joins = [self.in_thread(lambda: self.get(
            "/v1/catalog/nodes?index=%d&wait=30s" % i)) for _ in range(20)]
        self.assertTrue(self.sim.await_requests("/v1/catalog/nodes", 20, 5,
                                                blocked=True))
        t0 = time.monotonic()
        self.assertEqual(self.get("/v1/catalog/services").status, 200)
        self.assertLess(time.monotonic() - t0, 1.0 * load_factor())
        self.sim.register_node("late", "192.0.2.99")
        for j in joins:
            self.assertGreater(j().index, i)

    def test_passing_and_tag_filters(self):
        self.sim.set_check("foo-app02", "service:foo-app", "warning",
                           "foo-app")
        self.sim.maintenance("foo-app03")
        nodes = [e["Node"]["Node"] for e in self.get(
            "/v1/health/service/foo-app?passing=1").json()]
        self.assertEqual(nodes, ["foo-app01"])
        nodes = [e["Node"]["Node"] for e in self.get(
            "/v1/health/service/foo-app?passing=false").json()]
        self.assertEqual(len(nodes), 3)
        maint = [c for e in self.get("/v1/health/service/foo-app").json()
                 for c in e["Checks"] if c["CheckID"] == "_node_maintenance"]
        self.assertEqual((maint[0]["Status"], maint[0]["Type"]),
                         ("critical", "maintenance"))
        self.sim.register_service("foo-db-slave", "foo-db", "foo-db-2",
                                  tags=["slave", "replica"])
        r = self.get("/v1/health/service/foo-db?tag=slave&tag=replica")
        self.assertEqual([e["Service"]["ID"] for e in r.json()],
                         ["foo-db-2"])
        r = self.get("/v1/health/service/foo-db?tag=master&dc=dc1&filter=x")
        self.assertEqual([e["Node"]["Node"] for e in r.json()],
                         ["foo-db-master"])


def served(sim, kind=None, how=None):
    """(replies, bytes) the servers sent: all, for an endpoint kind, or
    for one way of asking."""
    load = sim.server_load()
    if kind is None:
        return load["requests"], load["bytes"]
    by = load["by_kind"].get(kind, {})
    hows = [how] if how else list(by)
    return (sum(by.get(h, {}).get("n", 0) for h in hows),
            sum(by.get(h, {}).get("bytes", 0) for h in hows))


class TestAgentCache(SimCase):
    """?cached as Consul's agent cache answers it (agent/cache,
    agent/cache-types, agent/http.go setCacheMeta)."""

    def test_background_refresh_hit_miss_and_one_server_query(self):
        self.sim.reset_log()
        r = self.get("/v1/catalog/services?cached&stale")
        self.assertEqual(r.headers["x-cache"], "MISS")
        self.assertNotIn("age", r.headers)
        self.assertEqual(served(self.sim, "services"), (1, len(r.body) + (
            consul_sim.RPC_REPLY_OVERHEAD)))
        i = r.index
        r = self.get("/v1/catalog/services?cached")
        self.assertEqual((r.headers["x-cache"], r.headers["age"]),
                         ("HIT", "0"))
        self.assertEqual(r.index, i)
        # Two clients block on the entry; one write: the entry's own
        # query returns once, and both are answered from it (MISS).
        j1 = self.in_thread(lambda: self.get(
            "/v1/catalog/services?cached&index=%d&wait=30s" % i))
        j2 = self.in_thread(lambda: self.get(
            "/v1/catalog/services?cached&stale&index=%d&wait=30s" % i))
        self.assertTrue(self.sim.await_requests("/v1/catalog/services", 2,
                                                5, blocked=True))
        self.sim.register_service("foo-app01", "newsvc")
        r1, r2 = j1(), j2()
        for r in (r1, r2):
            self.assertEqual(r.headers["x-cache"], "MISS")
            self.assertGreater(r.index, i)
            self.assertIn("newsvc", r.json())
        self.assertEqual(r2.headers["x-consul-effective-consistency"],
                         "stale")
        self.assertEqual(r1.headers["x-consul-effective-consistency"],
                         "leader")
        self.assertEqual(served(self.sim, "services", "fill")[0], 1)
        self.assertEqual(served(self.sim, "services", "refresh")[0], 1)
        self.assertEqual(served(self.sim)[0], 2)

    def test_cached_wait_ends_at_its_own_wait_without_the_servers(self):
        i = self.get("/v1/catalog/services?cached").index
        self.sim.reset_log()
        t0 = time.monotonic()
        r = self.get("/v1/catalog/services?cached&index=%d&wait=500ms" % i)
        dt = time.monotonic() - t0
        self.assertEqual((r.index, r.headers["x-cache"]), (i, "MISS"))
        # The agent's timeout is the wait itself: no wait/16 jitter.
        self.assertGreaterEqual(dt, 0.5)
        self.assertLess(dt, 0.5 + 0.5 * load_factor())
        self.assertEqual(served(self.sim), (0, 0))

    def test_expiry_of_the_background_query_sends_no_body(self):
        self.get("/v1/catalog/services?cached")
        self.sim.reset_log()
        with self.sim.lock:
            (ent,) = [e for e in self.sim.cache.values()
                      if e.kind == "services"]
            ent.since -= 2 * consul_sim.CACHE_QUERY_TIMEOUT * 17 / 16 + 1
        n, b = served(self.sim, "services", "not-modified")
        self.assertEqual(n, 2)
        self.assertEqual(b, 2 * consul_sim.RPC_REPLY_OVERHEAD)

    def test_entries_per_token(self):
        self.sim.reset_log()
        for tok in ("a", "b", "a"):
            self.get("/v1/catalog/services?cached",
                     headers={"X-Consul-Token": tok})
        self.assertEqual(served(self.sim, "services", "fill")[0], 2)
        self.sim.register_service("foo-app01", "other")
        self.assertEqual(served(self.sim, "services", "refresh")[0], 2)

    def test_ignored_where_consul_ignores_it(self):
        self.sim.reset_log()
        for path in ("/v1/catalog/nodes?cached", "/v1/catalog/nodes?cached",
                     "/v1/kv/consul-hosts/config/header?cached",
                     "/v1/catalog/node/foo-app01?cached"):
            r = self.get(path)
            self.assertEqual(r.status, 200, path)
            self.assertNotIn("x-cache", r.headers, path)
        self.assertEqual(served(self.sim, "nodes", "direct")[0], 2)
        self.assertEqual(served(self.sim)[0], 4)

    def test_use_cache_off_ignores_cached(self):
        self.sim.use_cache = False
        r = self.get("/v1/catalog/services?cached")
        self.assertNotIn("x-cache", r.headers)
        i = self.get("/v1/health/service/foo-app").index
        r = self.get("/v1/health/service/foo-app?index=%d&wait=10ms" % (
            i - 1))
        # Streaming still serves indexed health queries, without X-Cache.
        self.assertEqual(r.headers["x-consul-query-backend"], "streaming")
        self.assertNotIn("x-cache", r.headers)
        self.assertEqual(self.get("/v1/catalog/services?cached&consistent")
                         .status, 200)

    def test_configure_via_control_api(self):
        r = request(self.sim, "/_sim/configure", "POST",
                    body={"streaming": False, "use_cache": False})
        self.assertEqual(r.json()["result"],
                         {"streaming": False, "use_cache": False})
        i = self.get("/v1/health/service/foo-app").index
        r = self.get("/v1/health/service/foo-app?cached&index=%d&wait=10ms"
                     % (i - 1))
        self.assertEqual(r.headers["x-consul-query-backend"],
                         "blocking-query")
        self.assertNotIn("x-cache", r.headers)

    def test_cached_and_consistent_conflict(self):
        r = self.get("/v1/catalog/services?cached&consistent")
        self.assertEqual((r.status, r.body), (400, b"Cannot specify ?cached"
                         b" with ?consistent, conflicting semantics."))

    def test_cached_reads_stale_without_a_leader(self):
        self.get("/v1/catalog/services?cached")
        self.sim.set_leader("")
        self.assertEqual(self.get("/v1/catalog/nodes?cached").status, 500)
        r = self.get("/v1/catalog/services?cached")
        self.assertEqual((r.status, r.headers["x-cache"]), (200, "HIT"))
        # The entry's headers are those of its last fetch.
        self.assertEqual(r.headers["x-consul-knownleader"], "true")
        r = self.get("/v1/health/service/foo-db?cached")
        self.assertEqual(r.status, 200)

    def test_health_streaming_view_costs_events_not_bodies(self):
        self.sim.reset_log()
        r = self.get("/v1/health/service/foo-app?cached&passing")
        self.assertEqual((r.headers["x-cache"],
                          r.headers["x-consul-query-backend"]),
                         ("MISS", "streaming"))
        self.assertEqual(served(self.sim, "health", "snapshot")[0], 1)
        self.assertEqual(served(self.sim, "health", "direct")[0], 0)
        i = r.index
        full = len(self.get("/v1/health/service/foo-app?cached").body)
        join = self.in_thread(lambda: self.get(
            "/v1/health/service/foo-app?cached&passing&index=%d&wait=30s"
            % i))
        self.assertTrue(self.sim.await_requests("/v1/health/service", 1,
                                                5, blocked=True))
        self.sim.set_check("foo-app01", "service:foo-app", "critical",
                           "foo-app")
        r = join()
        self.assertEqual(r.headers["x-cache"], "MISS")
        self.assertEqual(len(r.json()), 2)
        n, b = served(self.sim, "health", "event")
        self.assertEqual(n, 1)
        # One instance's event, not the service's whole body.
        self.assertLess(b, full * 2 // 3)
        self.assertEqual(served(self.sim)[0], 1)
        r = self.get("/v1/health/service/foo-app?index=%d" % i)
        self.assertEqual(r.headers["x-cache"], "HIT")

    def test_health_without_streaming_is_a_refreshed_entry(self):
        self.sim.streaming = False
        self.sim.reset_log()
        r = self.get("/v1/health/service/foo-app?cached")
        self.assertEqual((r.headers["x-cache"],
                          r.headers["x-consul-query-backend"]),
                         ("MISS", "blocking-query"))
        r = self.get("/v1/health/service/foo-app?cached&index=%d"
                     "&wait=100ms" % r.index)
        self.assertEqual(r.headers["x-cache"], "MISS")
        self.assertEqual(served(self.sim, "health"), (1, len(r.body) + (
            consul_sim.RPC_REPLY_OVERHEAD)))
        self.sim.set_check("foo-app01", "service:foo-app", "critical",
                           "foo-app")
        self.assertEqual(served(self.sim, "health", "refresh")[0], 1)
        # Without ?cached every expiry is a server query with the body.
        i = self.get("/v1/health/service/foo-app").index
        self.sim.reset_log()
        self.get("/v1/health/service/foo-app?index=%d&wait=100ms" % i)
        self.assertEqual(served(self.sim, "health", "direct")[0], 1)
        self.assertGreater(served(self.sim, "health", "direct")[1], 1000)

    def test_datacenters_simple_cache(self):
        self.sim.reset_log()
        r = self.get("/v1/catalog/datacenters?cached")
        self.assertEqual(r.headers["x-cache"], "MISS")
        with self.sim.lock:
            for ent in self.sim.cache.values():
                ent.fetched_at -= 5
        r = self.get("/v1/catalog/datacenters?cached")
        self.assertEqual((r.headers["x-cache"], r.headers["age"]),
                         ("HIT", "5"))
        r = self.get("/v1/catalog/datacenters?cached",
                     headers={"Cache-Control": "max-age=2"})
        self.assertEqual(r.headers["x-cache"], "MISS")
        r = self.get("/v1/catalog/datacenters?cached",
                     headers={"Cache-Control": "max-age=0"})
        self.assertEqual(r.headers["x-cache"], "MISS")
        self.assertEqual(served(self.sim, "datacenters", "fill")[0], 3)
        r = self.get("/v1/catalog/datacenters?cached",
                     headers={"Cache-Control": "max-age=soon"})
        self.assertEqual((r.status, r.body),
                         (400, b"Invalid Cache-Control header."))
        r = self.get("/v1/catalog/nodes",
                     headers={"Cache-Control": "stale-if-error=x"})
        self.assertEqual(r.status, 400)

    def test_restore_and_agent_restart(self):
        i = self.get("/v1/catalog/services?cached").index
        snap = self.sim.snapshot()
        self.sim.register_service("foo-app01", "later")
        i2 = self.get("/v1/catalog/services?cached").index
        self.assertGreater(i2, i)
        join = self.in_thread(lambda: self.get(
            "/v1/catalog/services?cached&index=%d&wait=30s" % i2))
        self.assertTrue(self.sim.await_requests("/v1/catalog/services", 1,
                                                5, blocked=True))
        self.sim.restore(snap)
        r = join()
        self.assertEqual(r.index, i)
        self.assertNotIn("later", r.json())
        self.sim.stop()
        self.sim.start()
        self.sim.reset_log()
        r = self.get("/v1/catalog/services?cached")
        self.assertEqual(r.headers["x-cache"], "MISS")
        self.assertEqual(served(self.sim, "services", "fill")[0], 1)

    def test_direct_blocking_expiry_resends_the_body(self):
        i = self.get("/v1/catalog/nodes").index
        self.sim.reset_log()
        r = self.get("/v1/catalog/nodes?index=%d&wait=100ms" % i)
        self.assertEqual(served(self.sim, "nodes"),
                         (1, len(r.body) + consul_sim.RPC_REPLY_OVERHEAD))
        r = request(self.sim, "/_sim/server-load")
        self.assertEqual(r.json()["result"]["requests"], 1)
        self.assertEqual(self.sim.requests()["server"]["requests"], 1)


class TestACL(SimCase):
    token = "s3cret-token"

    def test_missing_and_wrong_token(self):
        r = self.get("/v1/catalog/nodes")
        self.assertEqual((r.status, r.body), (403, b"ACL not found"))
        self.assertEqual(r.headers["x-consul-default-acl-policy"], "deny")
        r = self.get("/v1/catalog/nodes",
                     headers={"X-Consul-Token": "wrong"})
        self.assertEqual((r.status, r.body), (403, b"ACL not found"))
        for h in ({"X-Consul-Token": self.token},
                  {"Authorization": "Bearer " + self.token}):
            self.assertEqual(self.get("/v1/catalog/nodes", headers=h)
                             .status, 200)
        self.assertEqual(self.get("/v1/kv/x?token=" + self.token).status,
                         404)
        # no-ACL endpoints
        self.assertEqual(self.get("/v1/status/leader").status, 200)

    def test_revoke_and_restore(self):
        h = {"X-Consul-Token": self.token}
        self.sim.acl_revoke(self.token)
        r = self.get("/v1/health/service/foo-app", headers=h)
        self.assertEqual((r.status, r.body), (403, b"ACL not found"))
        self.sim.acl_restore(self.token)
        self.assertEqual(self.get("/v1/health/service/foo-app",
                                  headers=h).status, 200)

    def test_permission_denied_and_filter(self):
        self.sim.acl_set_token("weak", "deny", accessor="acc-1")
        r = self.get("/v1/kv/hostsd/config/ttl",
                     headers={"X-Consul-Token": "weak"})
        self.assertEqual(r.status, 403)
        self.assertEqual(r.body, b"Permission denied: token with AccessorID"
                         b" 'acc-1' lacks permission 'key:read' on"
                         b" \"hostsd/config/ttl\"")
        self.sim.acl_set_token("partial", "filter")
        r = self.get("/v1/catalog/nodes",
                     headers={"X-Consul-Token": "partial"})
        self.assertEqual((r.status, r.json()), (200, []))
        self.assertEqual(r.headers["x-consul-results-filtered-by-acls"],
                         "true")

    def test_log_never_holds_token(self):
        self.get("/v1/catalog/nodes", headers={"X-Consul-Token": self.token})
        self.get("/v1/catalog/nodes?token=" + self.token)
        self.get("/v1/catalog/nodes")
        self.assertTrue(self.sim.await_idle(TIMEOUT))
        log = request(self.sim, "/_sim/requests").json()
        self.assertNotIn(self.token, json.dumps(log))
        self.assertEqual([e["token_present"] for e in log["requests"]],
                         [True, True, False])
        self.assertEqual([e["status"] for e in log["requests"]],
                         [200, 200, 403])


class TestFaults(SimCase):
    def test_no_leader_and_429(self):
        self.sim.set_fault("no-leader", count=1)
        r = self.get("/v1/catalog/nodes")
        self.assertEqual((r.status, r.body), (500, b"No cluster leader"))
        self.assertEqual(self.get("/v1/catalog/nodes").status, 200)
        self.sim.set_fault("rate-limit", count=1)
        r = self.get("/v1/catalog/nodes")
        self.assertEqual(r.status, 429)
        self.assertTrue(r.body.startswith(b"Your IP is issuing too many"))
        self.sim.set_fault("rate-limit", count=1, variant="retry-elsewhere")
        r = self.get("/v1/catalog/nodes")
        self.assertEqual((r.status, r.body),
                         (429, b"rate limit exceeded, try a different server"))

    def test_path_prefix_and_until_cleared(self):
        self.sim.set_fault("status", path="/v1/health/", status=503,
                           body="rate limit exceeded, try again later")
        self.assertEqual(self.get("/v1/catalog/nodes").status, 200)
        for _ in range(3):
            self.assertEqual(self.get("/v1/health/service/foo-app").status,
                             503)
        self.sim.clear_faults()
        self.assertEqual(self.get("/v1/health/service/foo-app").status, 200)

    def test_garbage(self):
        self.sim.set_fault("garbage", count=1)
        r = self.get("/v1/catalog/nodes")
        self.assertEqual(r.status, 200)
        self.assertRaises(ValueError, r.json)

    def test_truncated(self):
        self.sim.set_fault("truncated", count=1)
        with self.assertRaises(http.client.IncompleteRead):
            self.get("/v1/catalog/nodes")
        self.assertEqual(self.get("/v1/catalog/nodes").status, 200)

    def test_reset(self):
        self.sim.set_fault("reset", count=1)
        with self.assertRaises((ConnectionError,
                                http.client.RemoteDisconnected)):
            self.get("/v1/catalog/nodes")
        self.assertEqual(self.get("/v1/catalog/nodes").status, 200)

    def test_hang(self):
        self.sim.set_fault("hang", count=1, seconds=30)
        t0 = time.monotonic()
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.get("/v1/catalog/nodes", timeout=0.5)
        self.assertLess(time.monotonic() - t0, 2.0 * load_factor())
        self.sim.clear_faults()   # releases the held handler
        self.assertEqual(self.get("/v1/catalog/nodes").status, 200)

    def test_index_backwards_and_missing(self):
        i = self.get("/v1/catalog/nodes").index
        self.sim.set_fault("index-backwards", count=1, by=5)
        r = self.get("/v1/catalog/nodes?index=%d&wait=5s" % i)
        self.assertEqual(r.index, i - 5)
        self.sim.set_fault("index-backwards", count=1, index=1)
        self.assertEqual(self.get("/v1/catalog/nodes").index, 1)
        self.sim.set_fault("no-index", count=1)
        r = self.get("/v1/catalog/nodes")
        self.assertEqual(r.status, 200)
        self.assertNotIn("x-consul-index", r.headers)
        self.assertEqual(len(r.json()), 6)

    def test_slow_body(self):
        self.sim.set_fault("slow-body", count=1, chunk=200, delay_ms=50)
        t0 = time.monotonic()
        r = self.get("/v1/catalog/nodes")
        dt = time.monotonic() - t0
        self.assertEqual(len(r.json()), 6)
        chunks = (len(r.body) + 199) // 200
        self.assertGreaterEqual(dt, (chunks - 1) * 0.05 * 0.9)

    def test_fault_via_control_api(self):
        r = request(self.sim, "/_sim/set-fault", "POST",
                    body={"Mode": "no-leader", "Count": 2,
                          "Path": "/v1/kv/"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.get("/v1/kv/a").status, 500)
        self.assertEqual(self.get("/v1/catalog/nodes").status, 200)
        self.assertEqual(self.get("/v1/kv/a").status, 500)
        self.assertEqual(self.get("/v1/kv/a").status, 404)
        log = request(self.sim, "/_sim/requests").json()
        self.assertEqual(log["counters"]["faults_applied"], 2)
        r = request(self.sim, "/_sim/set-fault", "POST",
                    body={"mode": "bogus"})
        self.assertEqual(r.status, 400)

    def test_no_leader_state(self):
        self.sim.set_leader("")
        self.assertEqual(self.get("/v1/catalog/nodes").body,
                         b"No cluster leader")
        r = self.get("/v1/catalog/nodes?stale")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["x-consul-knownleader"], "false")


class TestRestore(SimCase):
    def test_restore_lowers_index_and_wakes(self):
        snap = self.sim.snapshot()
        i0 = self.get("/v1/catalog/nodes").index
        for k in range(5):
            self.sim.register_node("extra%d" % k, "192.0.2.%d" % (200 + k))
        i1 = self.get("/v1/catalog/nodes").index
        self.assertGreater(i1, i0)
        join = self.in_thread(lambda: self.get(
            "/v1/catalog/nodes?index=%d&wait=30s" % i1))
        join2 = self.in_thread(lambda: self.get(
            "/v1/health/service/foo-app?index=%d&wait=30s" % i1))
        self.assertTrue(self.sim.await_requests("/v1/", 2, 5, blocked=True))
        t0 = time.monotonic()
        request(self.sim, "/_sim/restore", "POST", body={"id": snap})
        r, r2 = join(), join2()
        self.assertLess(time.monotonic() - t0, 2.0 * load_factor())
        self.assertEqual(r.index, i0)
        self.assertLess(r2.index, i1)
        self.assertEqual(len(r.json()), 6)


class TestStopRestart(SimCase):
    def test_stop_drops_blocked_and_restart_keeps_port(self):
        port = self.sim.port
        i = self.get("/v1/catalog/nodes").index
        join = self.in_thread(lambda: self.get(
            "/v1/catalog/nodes?index=%d&wait=30s" % i))
        self.assertTrue(self.sim.await_requests("/v1/", 1, 5, blocked=True))
        t0 = time.monotonic()
        self.sim.stop()
        with self.assertRaises((ConnectionError,
                                http.client.RemoteDisconnected)):
            join()
        self.assertLess(time.monotonic() - t0, 5.0 * load_factor())
        with self.assertRaises(ConnectionError):
            self.get("/v1/catalog/nodes")
        self.sim.start()
        self.assertEqual(self.sim.port, port)
        r = self.get("/v1/catalog/nodes")
        self.assertEqual((r.status, r.index), (200, i))

    def test_dev_restart_empties_and_resets_index(self):
        i = self.get("/v1/catalog/nodes").index
        self.assertGreater(i, 1)
        self.sim.restore(0)
        r = self.get("/v1/catalog/nodes")
        self.assertEqual((r.body, r.index), (b"[]", 1))
        self.sim.load_catalog(SEED)
        self.assertEqual(self.get("/v1/catalog/nodes").index, i)


class TestControlAndTransport(SimCase):
    def test_control_registration(self):
        def ctl(action, body):
            r = request(self.sim, "/_sim/" + action, "POST", body=body)
            self.assertEqual(r.status, 200, r.body)
            return r.json()
        ctl("register-node", {"Node": "web-9", "Address": "192.0.2.90",
                              "Meta": {"rack": "r1"}})
        ctl("register-service", {"Node": "web-9", "ID": "web-9a",
                                 "Name": "web", "Tags": ["v1"],
                                 "Address": "198.51.100.9", "Port": 80,
                                 "Meta": {"k": "v"},
                                 "Weights": {"Passing": 10, "Warning": 1},
                                 "Status": "passing"})
        ctl("set-check", {"Node": "web-9", "CheckID": "service:web-9a",
                          "Status": "warning", "ServiceID": "web-9a"})
        ctl("kv-set", {"Key": "a/b", "Value": "hello"})
        e = self.get("/v1/health/service/web").json()[0]
        self.assertEqual(e["Service"]["Weights"],
                         {"Passing": 10, "Warning": 1})
        self.assertEqual(e["Checks"][0]["Status"], "warning")
        self.assertEqual(self.get("/v1/health/service/web?passing").json(),
                         [])
        v = self.get("/v1/kv/a/b").json()[0]["Value"]
        self.assertEqual(base64.b64decode(v), b"hello")
        ctl("deregister-service", {"Node": "web-9", "ID": "web-9a"})
        self.assertEqual(self.get("/v1/catalog/service/web").json(), [])
        ctl("kv-delete", {"Key": "a/", "Recurse": True})
        self.assertEqual(self.get("/v1/kv/a/b").status, 404)
        st = request(self.sim, "/_sim/state").json()["result"]
        self.assertEqual(st["index"], self.sim.index)
        r = request(self.sim, "/_sim/no-such-action", "POST", body={})
        self.assertEqual(r.status, 404)

    def test_consul_write_api(self):
        r = self.get("/v1/kv/w/x", method="PUT", body=b"raw")
        self.assertEqual((r.status, r.body), (200, b"true"))
        self.assertEqual(base64.b64decode(
            self.get("/v1/kv/w/x").json()[0]["Value"]), b"raw")
        r = self.get("/v1/catalog/register", method="PUT", body={
            "Node": "ext", "Address": "203.0.113.5",
            "Service": {"Service": "billing", "Port": 443}})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.get("/v1/catalog/service/billing").json()[0]
                         ["Node"], "ext")
        self.assertEqual(self.get("/v1/catalog/nodes", method="POST")
                         .status, 405)

    def test_request_log_and_reset(self):
        request(self.sim, "/_sim/reset-log", "POST", body={})
        self.get("/v1/catalog/nodes?stale&wait=1s")
        # The client has the whole answer before the handler logs its end
        # (status, counters): wait for that, not for the bytes.
        self.assertTrue(self.sim.await_idle(TIMEOUT))
        log = request(self.sim, "/_sim/requests").json()
        self.assertEqual(len(log["requests"]), 1)
        e = log["requests"][0]
        self.assertEqual((e["method"], e["path"], e["status"]),
                         ("GET", "/v1/catalog/nodes", 200))
        self.assertEqual(e["query"], {"stale": [""], "wait": ["1s"]})
        self.assertIn("time", e)
        self.assertEqual(log["counters"]["total"], 1)
        self.assertEqual(log["counters"]["by_status"], {"200": 1})

    def test_connection_limit(self):
        self.sim.max_conns_per_client = 3
        socks = []
        try:
            for _ in range(3):
                socks.append(socket.create_connection(
                    ("127.0.0.1", self.sim.port), TIMEOUT))
            # the handlers count connections once they are accepted
            self.assertTrue(self.sim.wait_for(
                lambda: self.sim.conn_stats["open"] >= 3))
            r = self.get("/v1/catalog/nodes")
            self.assertEqual(r.status, 429)
            self.assertTrue(r.body.startswith(b"Your IP is issuing"))
        finally:
            for s in socks:
                s.close()
        self.assertTrue(self.sim.wait_for(
            lambda: self.sim.conn_stats["open"] == 0))
        self.assertEqual(self.get("/v1/catalog/nodes").status, 200)
        stats = request(self.sim, "/_sim/requests").json()["counters"]
        self.assertGreaterEqual(stats["connections"]["max_open"], 4)
        self.assertGreaterEqual(stats["connections"]["refused"], 1)

    def test_tcp_nodelay(self):
        # Go's net/http sets TCP_NODELAY on every accepted TCP connection;
        # read back from the kernel for each connection the sim accepted.
        conns = []
        try:
            for _ in range(3):
                c = http.client.HTTPConnection("127.0.0.1", self.sim.port,
                                               timeout=TIMEOUT)
                c.request("GET", "/v1/catalog/nodes")
                self.assertEqual(c.getresponse().read()[:1], b"[")
                conns.append(c)
        finally:
            for c in conns:
                c.close()
        stats = request(self.sim, "/_sim/requests").json()["counters"]
        cs = stats["connections"]
        self.assertGreaterEqual(cs["total"], 4)
        self.assertEqual(cs["nodelay"], cs["total"])

    def test_unix_socket(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "consul.sock")
            sim = consul_sim.ConsulSim(listen=None, unix_path=path,
                                       seed=SEED)
            sim.start()
            try:
                r = request(sim, "/v1/catalog/nodes", unix=path)
                self.assertEqual(r.status, 200)
                self.assertEqual(len(r.json()), 6)
                i = r.index
                join = self.in_thread(lambda: request(
                    sim, "/v1/catalog/nodes?index=%d&wait=5s" % i,
                    unix=path))
                self.assertTrue(sim.await_requests("/v1/", 1, 5,
                                                   blocked=True))
                sim.register_node("x", "192.0.2.77")
                self.assertGreater(join().index, i)
            finally:
                sim.stop()
            self.assertFalse(os.path.exists(path))

    def test_cli_port_file(self):
        with tempfile.TemporaryDirectory() as d:
            pf = os.path.join(d, "port")
            proc = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "consul_sim.py"),
                 "--listen", "127.0.0.1:0", "--port-file", pf, "--seed",
                 SEED, "--token-required", "tok", "--quiet"],
                stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + TIMEOUT
                while not os.path.exists(pf):
                    self.assertIsNone(proc.poll())
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.02)
                with open(pf) as f:
                    port = int(f.read())

                class P:
                    pass
                P.port = port
                self.assertEqual(request(P, "/v1/catalog/nodes").status,
                                 403)
                r = request(P, "/v1/agent/self",
                            headers={"X-Consul-Token": "tok"})
                self.assertEqual(r.json()["Config"]["NodeName"],
                                 "consul-server-1")
            finally:
                proc.terminate()
                self.assertEqual(proc.wait(TIMEOUT), 0)
                err = proc.stderr.read()
                proc.stderr.close()
            self.assertEqual(err, b"")


if __name__ == "__main__":
    unittest.main()
