#!/usr/bin/env python3
"""Writes the Consul data of the corpus-* golden cases (tests/golden/).

One small catalog, answered as Consul's HTTP API answers (the shapes of
tests/fixtures/, captured from Consul 1.21): nodes, services with checks
in every state, Traefik and fabio tags with blanks and backquotes, a
service address that differs from its node's, tagged addresses, Connect
sidecars and KV keys. The cases share corpus.catalog ({"consul": map
keyed by the request path consul-hosts sends, dep_request_path}); each
case's .json says "consul_from": "corpus.catalog", plus its own options.

    python3 tests/golden/corpus_data.py   # rewrites corpus.catalog
"""
import base64
import glob
import json
import os

NODES = [
    ("consul-1", "10.0.1.10", {"rack": "r1", "env": "infra"}),
    ("web-1", "10.0.2.11", {"rack": "r1", "env": "prod"}),
    ("web-2", "10.0.2.12", {"rack": "r2", "env": "prod"}),
    ("web-3", "10.0.2.13", {"rack": "r3", "env": "staging"}),
    ("db-1", "10.0.3.21", {"rack": "r1", "env": "prod"}),
    ("db-2", "10.0.3.22", {"rack": "r2", "env": "prod"}),
    ("cache-1", "10.0.4.31", {"rack": "r3", "env": "prod"}),
]
TRAEFIK = "traefik.http.routers.web.rule=Host(`www.example.com`) && PathPrefix(`/`)"
# (node, id, service, tags, address, port, meta, status, kind)
INSTANCES = [
    ("consul-1", "consul", "consul", [], "", 8300, {}, "passing", ""),
    ("web-1", "web", "web", ["prod", "v2", "traefik.enable=true", TRAEFIK],
     "", 8080, {"version": "2.4.1", "aliases": "www,portal"}, "passing", ""),
    ("web-2", "web", "web", ["prod", "v2", "traefik.enable=true", TRAEFIK],
     "", 8080, {"version": "2.4.1", "aliases": "www,portal"}, "passing", ""),
    ("web-3", "web-canary", "web", ["canary", "v3"], "", 8080,
     {"version": "2.5.0-rc1"}, "warning", ""),
    ("web-1", "api-1", "api", ["http", "urlprefix-api.example.com/"], "",
     9000, {}, "passing", ""),
    ("web-2", "api-2", "api", ["http", "urlprefix-api.example.com/"], "",
     9000, {}, "critical", ""),
    ("db-1", "db", "db", ["master", "primary"], "", 5432, {"role": "master"},
     "passing", ""),
    ("db-2", "db", "db", ["replica"], "", 5432, {"role": "replica"},
     "passing", ""),
    ("cache-1", "redis", "redis", ["cache"], "10.0.4.131", 6379, {},
     "passing", ""),
    ("web-1", "web-sidecar-proxy", "web-sidecar-proxy", [], "", 21000, {},
     "passing", "connect-proxy"),
    ("web-2", "web-sidecar-proxy", "web-sidecar-proxy", [], "", 21000, {},
     "passing", "connect-proxy"),
]
KV = [
    ("hosts/", None),
    ("hosts/nas", "10.0.9.6"),
    ("hosts/printer", "10.0.9.5"),
    ("hosts/lab/scope", "10.0.9.7"),
    ("config/domain", "example.internal"),
    ("config/empty", ""),
    ("config/aliases", "files,backup"),
]


def node_obj(name):
    for n, addr, meta in NODES:
        if n == name:
            return {"ID": "00000000-0000-4000-8000-%012d" % NODES.index(
                (n, addr, meta)), "Node": n, "Address": addr,
                "Datacenter": "dc1",
                "TaggedAddresses": {"lan": addr, "lan_ipv4": addr,
                                    "wan": addr, "wan_ipv4": addr},
                "Meta": dict(meta, **{"consul-version": "1.21.3"}),
                "CreateIndex": 10, "ModifyIndex": 12}
    raise KeyError(name)


def entry(inst):
    node, sid, svc, tags, addr, port, meta, status, kind = inst
    n = node_obj(node)
    svc_addr = addr or n["Address"]
    return {
        "Node": n,
        "Service": {
            "Kind": kind, "ID": sid, "Service": svc, "Tags": tags,
            "Address": addr, "Meta": meta, "Port": port,
            "TaggedAddresses": {"lan_ipv4": {"Address": svc_addr,
                                             "Port": port}},
            "Weights": {"Passing": 10, "Warning": 1},
            "EnableTagOverride": False, "PeerName": "",
            "CreateIndex": 40, "ModifyIndex": 41},
        "Checks": [
            {"Node": node, "CheckID": "serfHealth",
             "Name": "Serf Health Status", "Status": "passing", "Notes": "",
             "Output": "Agent alive and reachable", "ServiceID": "",
             "ServiceName": "", "ServiceTags": [], "Type": "",
             "Interval": "", "Timeout": "", "ExposedPort": 0,
             "Definition": {}, "CreateIndex": 11, "ModifyIndex": 11},
            {"Node": node, "CheckID": "service:" + sid,
             "Name": "Service '%s' check" % svc, "Status": status,
             "Notes": "", "Output": "HTTP GET: %s" % status,
             "ServiceID": sid, "ServiceName": svc, "ServiceTags": tags,
             "Type": "http", "Interval": "10s", "Timeout": "5s",
             "ExposedPort": 0, "Definition": {}, "CreateIndex": 42,
             "ModifyIndex": 43}]}


def consul():
    out = {}
    out["/v1/catalog/nodes"] = [node_obj(n[0]) for n in NODES]
    services = {}
    for inst in INSTANCES:
        services.setdefault(inst[2], set()).update(inst[3])
    out["/v1/catalog/services"] = {k: sorted(v) for k, v in services.items()}
    for name in services:
        insts = [i for i in INSTANCES if i[2] == name]
        for path, kind in (("service", ""), ("connect", None)):
            pass
        out["/v1/health/service/" + name] = [entry(i) for i in insts]
        out["/v1/health/service/%s?passing" % name] = [
            entry(i) for i in insts if i[7] == "passing"]
        for tag in sorted(services[name]):
            if not tag.replace("-", "").isalnum():
                continue
            tagged = [i for i in insts if tag in i[3]]
            out["/v1/health/service/%s?passing&tag=%s" % (name, tag)] = [
                entry(i) for i in tagged if i[7] == "passing"]
            out["/v1/health/service/%s?tag=%s" % (name, tag)] = [
                entry(i) for i in tagged]
    # Connect: the sidecars of web, under web's name.
    out["/v1/health/connect/web?passing"] = [
        entry(i) for i in INSTANCES if i[2] == "web-sidecar-proxy"]
    for n, _, _ in NODES:
        services_on = {i[1]: {"ID": i[1], "Service": i[2], "Tags": i[3],
                              "Address": i[4], "Meta": i[6], "Port": i[5],
                              "EnableTagOverride": False}
                       for i in INSTANCES if i[0] == n}
        out["/v1/catalog/node/" + n] = {"Node": node_obj(n),
                                         "Services": services_on}
    out["/v1/catalog/node/gone"] = None

    def kv(key, value):
        return {"LockIndex": 0, "Key": key, "Flags": 0,
                "Value": None if value is None else
                base64.b64encode(value.encode()).decode(),
                "CreateIndex": 100, "ModifyIndex": 101}
    for prefix in ("hosts", "config"):
        out["/v1/kv/%s?recurse" % prefix] = [
            kv(k, v) for k, v in KV if k.startswith(prefix + "/")]
    for k, v in KV:
        if v is not None:
            out["/v1/kv/" + k] = [kv(k, v)]
    out["/v1/kv/config/missing"] = None
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "corpus.catalog"), "w") as f:
        json.dump({"consul": consul()}, f, indent=None, sort_keys=True,
                  separators=(",", ":"))
        f.write("\n")
    for tmpl in sorted(glob.glob(os.path.join(here, "corpus-*.tmpl"))):
        path = tmpl[:-5] + ".json"
        extra = {}
        if os.path.exists(path):
            with open(path) as f:
                old = json.load(f)
            extra = {k: v for k, v in old.items() if k != "consul"}
        extra["consul_from"] = "corpus.catalog"
        with open(path, "w") as f:
            json.dump(extra, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
