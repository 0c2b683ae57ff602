#!/usr/bin/env python3
"""consul_sim: a Consul HTTP API simulator for consul-hosts tests.

Python 3 standard library only.  It follows the contract written down in
reference/consul-api.md and the shapes in consul-fixtures/ (Consul CE
1.17-1.21 wire format):

  GET /v1/catalog/nodes | services | service/<s> | node/<n> | datacenters
  GET /v1/health/service/<s>      (?passing, ?tag=, ?dc=, ?filter ignored)
  GET /v1/kv/<key>                (?recurse, ?keys, ?separator=, 404+index)
  GET /v1/agent/self, /v1/status/leader
  PUT /v1/kv/<key>, DELETE /v1/kv/<key>, PUT /v1/catalog/(de)register

Blocking queries (index/wait with Go durations, wait/16 jitter, 10 min cap,
5 min default), raft-like indexes per endpoint (never 0), consistency
modes, ACL tokens (403 bodies), faults on demand and snapshot/restore.

The simulator is one agent in front of "the servers".  Its agent cache
(http_config.use_cache, on by default; --no-cache turns it off) answers
?cached as Consul's agent/cache does (agent/cache-types, agent/http.go):

  /v1/catalog/services, /v1/catalog/service/<s>, /v1/health/service/<s>
      background refresh: the first ?cached request fills an entry (one
      server query, X-Cache: MISS); from then on the entry keeps its own
      blocking query to the servers (stale, 10 min, AllowNotModified:
      an expiry costs the servers no body), and every ?cached request is
      answered from the entry: at once (HIT, Age: 0) when its index is
      above the request's, else when the entry changes or the request's
      own wait ends (MISS; no wait: no timeout).  Cache-Control is
      ignored.  The headers (index, known leader, last contact) are the
      entry's, as of its last fetch.
  /v1/health/service/<s> with the streaming backend (on by default;
      --no-streaming turns it off), when ?cached is given or index > 0
      and no ?near: a materialized view per request key, filled by one
      subscription (a snapshot, then one event per changed instance);
      HIT when it answers at once, MISS after waiting; X-Cache only with
      use_cache; X-Consul-KnownLeader: false, backend "streaming".
  /v1/catalog/datacenters
      simple: the entry is fetched once and served for 3 days; Age on a
      HIT; Cache-Control max-age=<s>, must-revalidate (max-age=0) force
      a refetch; a bad number is 400 "Invalid Cache-Control header.".
  anything else: ?cached is ignored (no X-Cache), as Consul ignores it.

Entries are keyed by endpoint, arguments, datacenter, tags, node-meta and
the request's ACL token (agent/cache makeEntryKey): daemons that send
different tokens model different agents.  Simplification: a snapshot
restore wakes cached and streaming waiters as it wakes blocking queries
(Consul's cache and views would wait for an index above the request's).

"The servers" are counted (GET /_sim/server-load, and "server" in GET
/_sim/requests): every query the agent makes to them and the bytes of
their replies (the JSON body, plus RPC_REPLY_OVERHEAD for the reply's
QueryMeta and framing), and every streaming event (its instance's JSON,
plus RPC_EVENT_OVERHEAD).  Requests the agent answers itself (cache hits
and waits, views, /v1/agent/self) cost the servers nothing.  reset-log
zeroes these counters too.

Control interface: the same listener serves /_sim/<action> (JSON bodies;
the keys are the keyword arguments of the ConsulSim method of the same
name, with '-' for '_'; Consul-style PascalCase keys are accepted too):

  POST /_sim/register-node      {"node","address","id","datacenter",
                                 "tagged_addresses","meta"}
  POST /_sim/deregister-node    {"node"}
  POST /_sim/register-service   {"node","name","id","tags","address","port",
                                 "meta","weights","kind","socket_path",
                                 "status" (adds check "service:<id>")}
  POST /_sim/deregister-service {"node","id"}
  POST /_sim/set-check          {"node","check_id","status","service_id",
                                 "name","output","notes","type"}
                                status: passing|warning|critical|maintenance
  POST /_sim/deregister-check   {"node","check_id"}
  POST /_sim/maintenance        {"node","service_id","enable","reason"}
  POST /_sim/kv-set             {"key","value" | "value_base64","flags",
                                 "session"}
  POST /_sim/kv-delete          {"key","recurse"}
  POST /_sim/kv-reap-tombstones {}        (can lower a prefix's index)
  POST /_sim/set-fault          {"mode","count","path", mode params...}
  POST /_sim/clear-faults       {}
  POST /_sim/acl-set-token      {"token","policy": read|deny|filter}
  POST /_sim/acl-revoke         {"token"}   /_sim/acl-restore {"token"}
  POST /_sim/acl-require        {"enabled","anonymous": reject|filter}
  POST /_sim/set-leader         {"leader"}  ("" = no leader)
  POST /_sim/snapshot           {} -> {"id"}
  POST /_sim/restore            {"id"}      (wakes every blocked query;
                                id 0 is the empty state: a -dev restart)
  POST /_sim/load-catalog       {seed catalog document}
  POST /_sim/configure          {"streaming","use_cache"} (the agent's
                                use_streaming_backend, http_config.use_cache)
  GET  /_sim/requests           request log + counters
  GET  /_sim/server-load        what the servers served (see above)
  POST /_sim/reset-log          {}
  GET  /_sim/state              indexes, blocked queries, faults
  POST /_sim/await-requests     {"path","count","timeout","blocked"}

From Python, call the same methods on a ConsulSim (plus wait_for(pred),
await_requests(path, n, blocked=...), requests(), state()); start() after
stop() is an agent restart on the same port.  TCP clients get the agent's
429 past max_conns_per_client (200) open connections.

Fault modes (set-fault): no-leader (500 "No cluster leader"), rate-limit
(429, "variant": retry-elsewhere|too-many-connections|empty), status
("status","body"), garbage, truncated, hang ("seconds"), reset,
index-backwards ("by" or "index"), no-index, slow-body ("chunk",
"delay_ms"), huge ("bytes" of blanks after the real body, default
100 MiB).  "count" = how many matching requests (null = until
cleared), "path" = only requests whose path starts with it.

CLI:
  consul_sim.py --listen 127.0.0.1:0 --port-file F --seed seed.json
                [--token-required TOKEN] [--unix PATH] [--quiet]
                [--no-streaming] [--no-cache]
The port file is written (atomically) only once the server is listening.
"""

import argparse
import base64
import copy
import gzip
import http.server
import json
import os
import random
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
import uuid

MAX_QUERY_TIME = 600.0
DEFAULT_QUERY_TIME = 300.0
JITTER_FRACTION = 16
MAX_BODY = 16 << 20
CHUNKED_ABOVE = 2048
GZIP_MIN_SIZE = 1400
REQUEST_LOG_MAX = 100000
# agent/cache: background-refresh types block on the servers this long
# (cache-types RegisterOptionsBlockingRefresh.QueryTimeout); simple types
# live this long after their last use (LastGetTTL's default).
CACHE_QUERY_TIMEOUT = 600.0
CACHE_SIMPLE_TTL = 3 * 86400.0
# What a server reply costs besides its body (QueryMeta and the RPC
# header, msgpack-encoded), and a streaming event besides its instance:
# estimates, so a not-modified reply is not counted as free.
RPC_REPLY_OVERHEAD = 150
RPC_EVENT_OVERHEAD = 50

STATUS_TEXT = {
    200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 429: "Too Many Requests",
    500: "Internal Server Error", 503: "Service Unavailable",
}

BODY_NO_LEADER = "No cluster leader"
BODY_429 = {
    "too-many-connections": "Your IP is issuing too many concurrent "
                            "connections, please rate limit your calls",
    "retry-elsewhere": "rate limit exceeded, try a different server",
    "empty": "",
}
CHECK_STATUSES = ("passing", "warning", "critical")
FAULT_MODES = ("no-leader", "rate-limit", "status", "garbage", "truncated",
               "hang", "reset", "index-backwards", "no-index", "slow-body",
               "huge")

_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6,
              "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DUR_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parse_go_duration(text):
    """Seconds for a Go time.ParseDuration string; ValueError if invalid."""
    s = text
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError("invalid duration %r" % text)
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DUR_RE.match(s, pos)
        if not m:
            raise ValueError("invalid duration %r" % text)
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def parse_go_bool(text):
    """strconv.ParseBool, with "" meaning true (Consul's ?passing)."""
    if text in ("", "1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(text)


def go_json(value, pretty=False):
    """Encode like Go's encoding/json: compact, HTML-escaped, UTF-8."""
    if pretty:
        text = json.dumps(value, indent=4, ensure_ascii=False) + "\n"
    else:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = (text.replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029"))
    return text.encode("utf-8")


def _snake(key):
    key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)
    return key.lower().replace("-", "_")


def _tagged_service_addresses(address, port):
    if not address:
        return None
    fam = "ipv6" if ":" in address else "ipv4"
    return {"lan_" + fam: {"Address": address, "Port": port},
            "wan_" + fam: {"Address": address, "Port": port}}


class ApiError(Exception):
    """An HTTP error answer: status, text body, optional extra headers."""

    def __init__(self, status, body, headers=None):
        super().__init__(body)
        self.status = status
        self.body = body
        self.headers = headers or {}


class _Fault:
    def __init__(self, fid, mode, count, path, params):
        self.id = fid
        self.mode = mode
        self.count = count
        self.path = path
        self.params = params
        self.applied = 0

    def describe(self):
        return {"id": self.id, "mode": self.mode, "count": self.count,
                "path": self.path, "params": self.params,
                "applied": self.applied}


class _State:
    """The replicated state: everything a snapshot saves."""

    def __init__(self):
        self.index = 0
        self.tables = {"nodes": 0, "services": 0, "checks": 0, "kvs": 0,
                       "tombstones": 0}
        self.nodes = {}        # name -> node record
        self.services = {}     # (node, service id) -> service record
        self.checks = {}       # (node, check id) -> check record
        self.kv = {}           # key -> entry (Value as bytes or None)
        self.tombstones = {}   # key -> index of deletion
        self.svc_idx = {}      # service name -> catalog index
        self.svc_health_idx = {}  # service name -> health index
        self.node_idx = {}     # node name -> catalog/node index
        self.node_svcs = {}    # node -> {service id}     (lookup indexes)
        self.name_svcs = {}    # service name -> {(node, service id)}
        self.node_chks = {}    # node -> {check id}

    def put_service(self, node, sid, rec):
        old = self.services.get((node, sid))
        if old is not None:
            self.name_svcs[old["Service"]].discard((node, sid))
        self.services[(node, sid)] = rec
        self.node_svcs.setdefault(node, set()).add(sid)
        self.name_svcs.setdefault(rec["Service"], set()).add((node, sid))

    def del_service(self, node, sid):
        rec = self.services.pop((node, sid))
        self.node_svcs[node].discard(sid)
        self.name_svcs[rec["Service"]].discard((node, sid))

    def put_check(self, node, cid, rec):
        self.checks[(node, cid)] = rec
        self.node_chks.setdefault(node, set()).add(cid)

    def del_check(self, node, cid):
        del self.checks[(node, cid)]
        self.node_chks[node].discard(cid)

    def services_of(self, node):
        return [self.services[(node, sid)]
                for sid in sorted(self.node_svcs.get(node, ()))]

    def checks_of(self, node):
        return [self.checks[(node, cid)]
                for cid in self.node_chks.get(node, ())]


class ConsulSim:
    """A Consul agent simulator.  Thread-safe; start() / stop()."""

    def __init__(self, listen="127.0.0.1:0", unix_path=None, seed=None,
                 datacenter="dc1", node_name="consul-server-1",
                 token_required=None, quiet=True, jitter=True,
                 rpc_hold=0.0, streaming=True, max_conns_per_client=200,
                 use_cache=True):
        self.listen = listen
        self.unix_path = unix_path
        self.quiet = quiet
        self.jitter = jitter
        self.rpc_hold = rpc_hold
        self.streaming = streaming
        self.use_cache = use_cache   # http_config.use_cache
        self.cache = {}              # the agent cache: key -> _CacheEntry
        self.served = _server_counters()    # what the servers served
        self.datacenter = datacenter
        self.datacenters = [datacenter]
        self.node_name = node_name
        self.node_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, node_name))
        self.agent_address = "127.0.0.1"
        self.version = "1.21.3"
        self.leader = "127.0.0.1:8300"
        self.leader_lost_at = None
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.st = _State()
        self.generation = 0       # bumped by restore: abandons blocks
        self.stopping = False
        self.snapshots = {0: _State()}   # 0: empty, index 0 (dev restart)
        self.conns = set()
        self.conns_by_ip = {}
        self.max_conns_per_client = max_conns_per_client
        self.conn_stats = {"open": 0, "max_open": 0, "total": 0,
                           "refused": 0, "nodelay": 0}
        self.faults = []
        self.fault_seq = 0
        self.hang_release = threading.Event()
        self.acl_enabled = False
        self.acl_anonymous = "reject"
        self.acl_denied_style = "new"
        self.tokens = {}
        self.log = []
        self.counters = {"total": 0, "by_status": {}, "by_path": {},
                         "faults_applied": 0}
        self.blocked = {}         # request id -> path, while blocking
        self.req_seq = 0
        self.servers = []
        self.threads = []
        self.port = None
        if token_required:
            self.acl_require(True)
            self.acl_set_token(token_required, policy="read")
        if seed is not None:
            self.load_catalog(seed)

    # ------------------------------------------------------------ lifecycle
    def start(self):
        """Listen and serve.  After stop(), start() again serves the same
        state on the same port: an agent restart."""
        handler = _make_handler(self)
        with self.cond:
            self.stopping = False
            self.hang_release.clear()
        if self.listen:
            host, port = _split_hostport(self.listen)
            port = port or self.port or 0
            srv_cls = _TCPServer6 if ":" in host else _TCPServer
            srv = srv_cls((host, port), handler)
            self.port = srv.server_address[1]
            self.servers.append(srv)
        if self.unix_path:
            try:
                os.unlink(self.unix_path)
            except FileNotFoundError:
                pass
            self.servers.append(_UnixServer(self.unix_path, handler))
        for srv in self.servers:
            t = threading.Thread(target=srv.serve_forever,
                                 kwargs={"poll_interval": 0.05},
                                 name="consul-sim", daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        """Stop listening and drop every open connection (blocked queries
        included) without an answer, as a dying agent would."""
        with self.cond:
            self.stopping = True
            self.cache = {}     # the agent's cache dies with it
            self.cond.notify_all()
        self.hang_release.set()
        for srv in self.servers:
            srv.shutdown()
        # Drop the connections before server_close(), which joins the
        # handler threads: one waiting for the next request on a kept-alive
        # connection would otherwise hold the exit until its client hangs up.
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for srv in self.servers:
            srv.server_close()
        for t in self.threads:
            t.join(5)
        self.servers, self.threads = [], []
        if self.unix_path:
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        host, _ = _split_hostport(self.listen)
        if ":" in host:
            host = "[%s]" % host
        return "http://%s:%d" % (host, self.port)

    def _log(self, msg):
        if not self.quiet:
            sys.stderr.write("consul-sim: %s\n" % msg)
            sys.stderr.flush()

    # ------------------------------------------------------------ indexes
    def _write(self, *tables):
        """Advance the raft index for a write touching tables."""
        st = self.st
        st.index += 1
        for t in tables:
            st.tables[t] = st.index
        return st.index

    def _bump_service(self, name, idx, health_only=False):
        if not health_only:
            self.st.svc_idx[name] = idx
        self.st.svc_health_idx[name] = idx

    def _bump_node_services(self, node, idx, health_only=False):
        for svc in self.st.services_of(node):
            self._bump_service(svc["Service"], idx, health_only)

    def _changed(self):
        self._cache_refresh()
        self.cond.notify_all()

    @property
    def index(self):
        with self.lock:
            return self.st.index

    # ------------------------------------------------------------ catalog
    def register_node(self, node, address, id="", datacenter=None,
                      tagged_addresses=None, meta=None):
        with self.cond:
            st = self.st
            old = st.nodes.get(node)
            idx = self._write("nodes")
            if tagged_addresses is None and old is None:
                tagged_addresses = None
            elif tagged_addresses is None:
                tagged_addresses = old["TaggedAddresses"]
            st.nodes[node] = {
                "ID": id, "Node": node, "Address": address,
                "Datacenter": datacenter or self.datacenter,
                "TaggedAddresses": tagged_addresses,
                "Meta": meta if meta is not None else
                (old["Meta"] if old else {}),
                "CreateIndex": old["CreateIndex"] if old else idx,
                "ModifyIndex": idx,
            }
            st.node_idx[node] = idx
            self._bump_node_services(node, idx)
            self._changed()
            return idx

    def deregister_node(self, node):
        with self.cond:
            st = self.st
            if node not in st.nodes:
                raise ApiError(404, "unknown node %r" % node)
            # The services and checks tables move only when the node
            # had some (the state store's deleteNodeTxn).
            tables = ["nodes"]
            if st.node_svcs.get(node):
                tables.append("services")
            if st.node_chks.get(node):
                tables.append("checks")
            idx = self._write(*tables)
            self._bump_node_services(node, idx)
            del st.nodes[node]
            for sid in list(st.node_svcs.get(node, ())):
                st.del_service(node, sid)
            for cid in list(st.node_chks.get(node, ())):
                st.del_check(node, cid)
            st.node_idx[node] = idx
            self._changed()
            return idx

    def register_service(self, node, name=None, id=None, tags=None,
                         address="", port=0, meta=None, weights=None,
                         kind="", socket_path="", enable_tag_override=False,
                         status=None, service=None, tagged_addresses=None):
        name = name or service
        if not name:
            raise ApiError(400, "Missing service name")
        sid = id or name
        with self.cond:
            st = self.st
            if node not in st.nodes:
                raise ApiError(404, "unknown node %r" % node)
            old = st.services.get((node, sid))
            idx = self._write("services")
            if old and old["Service"] != name:
                self._bump_service(old["Service"], idx)
            st.put_service(node, sid, {
                "Kind": kind, "ID": sid, "Service": name,
                "Tags": list(tags or []), "Address": address,
                "TaggedAddresses": tagged_addresses,
                "Meta": meta, "Port": int(port or 0),
                "SocketPath": socket_path,
                "Weights": weights or {"Passing": 1, "Warning": 1},
                "EnableTagOverride": bool(enable_tag_override),
                "CreateIndex": old["CreateIndex"] if old else idx,
                "ModifyIndex": idx,
            })
            self._bump_service(name, idx)
            st.node_idx[node] = idx
            self._changed()
        if status is not None:
            self.set_check(node, "service:%s" % sid, status=status,
                           service_id=sid,
                           name="Service '%s' check" % name)
        return self.index

    def deregister_service(self, node, id=None, service_id=None):
        sid = id or service_id
        with self.cond:
            st = self.st
            svc = st.services.get((node, sid))
            if svc is None:
                raise ApiError(404, "unknown service %r on %r" % (sid, node))
            tables = ["services"]
            doomed = [c["CheckID"] for c in st.checks_of(node)
                      if c["ServiceID"] == sid]
            if doomed:
                tables.append("checks")
            idx = self._write(*tables)
            st.del_service(node, sid)
            for cid in doomed:
                st.del_check(node, cid)
            self._bump_service(svc["Service"], idx)
            st.node_idx[node] = idx
            self._changed()
            return idx

    def set_check(self, node, check_id, status="passing", service_id="",
                  name=None, output="", notes="", type="", interval="",
                  timeout=""):
        if status == "maintenance":
            return self.maintenance(node, service_id or None, True)
        if status not in CHECK_STATUSES:
            raise ApiError(400, "invalid check status %r" % status)
        with self.cond:
            st = self.st
            if node not in st.nodes:
                raise ApiError(404, "unknown node %r" % node)
            svc = None
            if service_id:
                svc = st.services.get((node, service_id))
                if svc is None:
                    raise ApiError(404, "unknown service %r" % service_id)
            old = st.checks.get((node, check_id))
            idx = self._write("checks")
            st.put_check(node, check_id, {
                "Node": node, "CheckID": check_id,
                "Name": name or (old["Name"] if old else check_id),
                "Status": status, "Notes": notes, "Output": output,
                "ServiceID": service_id or "",
                "Type": type, "Interval": interval, "Timeout": timeout,
                "CreateIndex": old["CreateIndex"] if old else idx,
                "ModifyIndex": idx,
            })
            if svc is not None:
                self._bump_service(svc["Service"], idx, health_only=True)
            else:
                self._bump_node_services(node, idx, health_only=True)
            self._changed()
            return idx

    def deregister_check(self, node, check_id):
        with self.cond:
            st = self.st
            chk = st.checks.get((node, check_id))
            if chk is None:
                raise ApiError(404, "unknown check %r" % check_id)
            idx = self._write("checks")
            st.del_check(node, check_id)
            svc = st.services.get((node, chk["ServiceID"]))
            if svc is not None:
                self._bump_service(svc["Service"], idx, health_only=True)
            else:
                self._bump_node_services(node, idx, health_only=True)
            self._changed()
            return idx

    def maintenance(self, node, service_id=None, enable=True, reason=""):
        if service_id:
            cid = "_service_maintenance:%s" % service_id
            name = "Service Maintenance Mode"
        else:
            cid = "_node_maintenance"
            name = "Node Maintenance Mode"
        if not enable:
            return self.deregister_check(node, cid)
        return self.set_check(node, cid, "critical", service_id or "",
                              name=name, notes=reason or
                              "Maintenance mode is enabled for this "
                              + ("service" if service_id else "node")
                              + ", but no reason was provided. "
                              "This is a default message.",
                              type="maintenance")

    # ------------------------------------------------------------ kv
    def kv_set(self, key, value=None, flags=0, session=None,
               value_base64=None):
        if value_base64 is not None:
            data = base64.b64decode(value_base64)
        elif isinstance(value, str):
            data = value.encode("utf-8")
        else:
            data = value
        with self.cond:
            st = self.st
            old = st.kv.get(key)
            idx = self._write("kvs")
            st.kv[key] = {
                "LockIndex": (old["LockIndex"] if old else 0)
                + (1 if session and not (old and old.get("Session")) else 0),
                "Key": key, "Flags": int(flags), "Value": data or None,
                "Session": session,
                "CreateIndex": old["CreateIndex"] if old else idx,
                "ModifyIndex": idx,
            }
            st.tombstones.pop(key, None)
            self._changed()
            return idx

    def kv_delete(self, key, recurse=False):
        with self.cond:
            st = self.st
            keys = [k for k in st.kv if (k.startswith(key) if recurse
                                         else k == key)]
            idx = self._write("kvs", "tombstones")
            for k in keys:
                del st.kv[k]
                st.tombstones[k] = idx
            self._changed()
            return idx

    def kv_reap_tombstones(self):
        """Forget deletions: a prefix's index can then go backwards."""
        with self.cond:
            self.st.tombstones.clear()
            self._changed()
            return self.st.index

    # ------------------------------------------------------------ misc control
    def set_leader(self, leader):
        with self.cond:
            self.leader = leader or ""
            self.leader_lost_at = None if leader else time.monotonic()
            self._changed()
        return self.index

    def configure(self, streaming=None, use_cache=None):
        """The agent's use_streaming_backend and http_config.use_cache
        (None: unchanged).  Existing cache entries and views stay."""
        with self.cond:
            if streaming is not None:
                self.streaming = bool(streaming)
            if use_cache is not None:
                self.use_cache = bool(use_cache)
            return {"streaming": self.streaming,
                    "use_cache": self.use_cache}

    def acl_require(self, enabled=True, anonymous="reject",
                    denied_style="new"):
        with self.lock:
            self.acl_enabled = bool(enabled)
            self.acl_anonymous = anonymous
            self.acl_denied_style = denied_style
        return True

    def acl_set_token(self, token, policy="read", accessor=None):
        if policy not in ("read", "deny", "filter"):
            raise ApiError(400, "policy must be read, deny or filter")
        with self.lock:
            self.tokens[token] = {
                "policy": policy, "revoked": False,
                "accessor": accessor or str(uuid.uuid5(uuid.NAMESPACE_OID,
                                                       token))}
        return True

    def acl_revoke(self, token):
        with self.lock:
            if token in self.tokens:
                self.tokens[token]["revoked"] = True
        return True

    def acl_restore(self, token):
        with self.lock:
            if token in self.tokens:
                self.tokens[token]["revoked"] = False
        return True

    def set_fault(self, mode, count=None, path=None, **params):
        if mode not in FAULT_MODES:
            raise ApiError(400, "unknown fault mode %r" % mode)
        with self.lock:
            self.fault_seq += 1
            self.faults.append(_Fault(self.fault_seq, mode, count, path,
                                      params))
            self.hang_release.clear()
            return self.fault_seq

    def clear_faults(self):
        with self.lock:
            self.faults = []
            self.hang_release.set()
        return True

    def snapshot(self):
        with self.lock:
            sid = len(self.snapshots)
            self.snapshots[sid] = copy.deepcopy(self.st)
            return sid

    def restore(self, id):
        """Snapshot restore: state and index go back, blocks are abandoned."""
        with self.cond:
            if id not in self.snapshots:
                raise ApiError(404, "unknown snapshot %r" % id)
            self.st = copy.deepcopy(self.snapshots[id])
            self.generation += 1
            self._changed()
            return self.st.index

    def load_catalog(self, doc):
        """Apply a seed catalog (see tests/sim/seed-catalog.json)."""
        if isinstance(doc, (str, os.PathLike)):
            with open(doc, encoding="utf-8") as f:
                doc = json.load(f)
        agent = doc.get("Agent", {})
        with self.cond:
            self.datacenter = doc.get("Datacenter", self.datacenter)
            self.datacenters = list(doc.get("Datacenters",
                                            [self.datacenter]))
            self.node_name = agent.get("NodeName", self.node_name)
            self.node_id = agent.get("NodeID", self.node_id)
            self.agent_address = agent.get("Address", self.agent_address)
            self.version = agent.get("Version", self.version)
            if "Leader" in doc:
                self.set_leader(doc["Leader"])
        for n in doc.get("Nodes", []):
            self.register_node(n["Node"], n["Address"], n.get("ID", ""),
                               n.get("Datacenter"),
                               n.get("TaggedAddresses"), n.get("Meta"))
            for c in n.get("Checks", []):
                self.set_check(n["Node"], c["CheckID"],
                               c.get("Status", "passing"), "",
                               c.get("Name"), c.get("Output", ""),
                               c.get("Notes", ""), c.get("Type", ""),
                               c.get("Interval", ""), c.get("Timeout", ""))
            for s in n.get("Services", []):
                sid = s.get("ID") or s.get("Service") or s.get("Name")
                self.register_service(
                    n["Node"], s.get("Name") or s.get("Service"), sid,
                    s.get("Tags"), s.get("Address", ""), s.get("Port", 0),
                    s.get("Meta"), s.get("Weights"), s.get("Kind", ""),
                    s.get("SocketPath", ""),
                    s.get("EnableTagOverride", False),
                    tagged_addresses=s.get("TaggedAddresses"))
                for c in s.get("Checks", []):
                    self.set_check(n["Node"],
                                   c.get("CheckID", "service:%s" % sid),
                                   c.get("Status", "passing"), sid,
                                   c.get("Name"), c.get("Output", ""),
                                   c.get("Notes", ""), c.get("Type", ""),
                                   c.get("Interval", ""),
                                   c.get("Timeout", ""))
        kv = doc.get("KV", {})
        items = kv.items() if isinstance(kv, dict) else \
            [(e["Key"], e) for e in kv]
        for key, v in items:
            if isinstance(v, dict):
                self.kv_set(key, v.get("Value"), v.get("Flags", 0),
                            v.get("Session"), v.get("ValueBase64"))
            else:
                self.kv_set(key, v)
        return self.index

    def requests(self, path=None):
        with self.lock:
            log = [dict(e) for e in self.log
                   if path is None or e["path"].startswith(path)]
            return {"requests": log, "counters": copy.deepcopy(
                dict(self.counters, blocked=len(self.blocked),
                     connections=self.conn_stats)),
                "server": self.server_load()}

    def server_load(self):
        """What the servers served since the last reset-log: queries
        ("requests"), streaming events and bytes, in total and by
        endpoint kind and how it was asked ("direct": a request the
        agent forwarded; "fill", "refresh", "not-modified": the cache's
        own queries; "snapshot", "event": streaming)."""
        with self.lock:
            now = time.monotonic()
            for ent in self.cache.values():
                self._cache_settle(ent, now)
            out = copy.deepcopy(self.served)
            out["cache_entries"] = len(self.cache)
            return out

    def reset_log(self):
        with self.lock:
            self.log = []
            self.counters = {"total": 0, "by_status": {}, "by_path": {},
                             "faults_applied": 0}
            for ent in self.cache.values():
                self._cache_settle(ent, time.monotonic())
            self.served = _server_counters()    # what the servers served
        return True

    def await_requests(self, path="/v1/", count=1, timeout=10.0,
                       blocked=False):
        """Wait until count requests under path were answered (or, with
        blocked=True, are blocking right now).  Returns True on success."""
        deadline = time.monotonic() + float(timeout)
        with self.cond:
            while True:
                if blocked:
                    n = sum(1 for p in self.blocked.values()
                            if p.startswith(path))
                else:
                    n = sum(1 for e in self.log
                            if e["path"].startswith(path)
                            and e["status"] is not None)
                if n >= count:
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or self.stopping:
                    return False
                self.cond.wait(left)

    def await_idle(self, timeout=10.0):
        """Wait until every logged request that is not parked in a
        blocking query has been handled to its end (status, duration and
        counters recorded).  A client has the whole answer a moment
        before its handler logs the end, so read the log after this."""
        return self.wait_for(lambda: all(
            e["duration"] is not None or e["id"] in self.blocked
            for e in self.log), timeout)

    def wait_for(self, predicate, timeout=10.0):
        """Wait until predicate() (called under the lock) is true; it is
        re-checked on every request, connection and state change."""
        deadline = time.monotonic() + float(timeout)
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def state(self):
        with self.lock:
            st = self.st
            return {"index": st.index, "tables": dict(st.tables),
                    "services": dict(st.svc_idx),
                    "health": dict(st.svc_health_idx),
                    "generation": self.generation, "leader": self.leader,
                    "blocked": sorted(self.blocked.values()),
                    "faults": [f.describe() for f in self.faults],
                    "acl": self.acl_enabled,
                    "cache_entries": len(self.cache)}

    # ------------------------------------------------------------ servers
    def server_count(self, kind, how, nbytes, events=0):
        """Count one server reply (events=0) or events streamed."""
        c = self.served
        by = c["by_kind"].setdefault(kind, {}).setdefault(
            how, {"n": 0, "bytes": 0})
        if events:
            c["events"] += events
            by["n"] += events
        else:
            c["requests"] += 1
            by["n"] += 1
            nbytes += RPC_REPLY_OVERHEAD
        c["bytes"] += nbytes
        by["bytes"] += nbytes

    def server_read(self, kind, arg, q, how="direct"):
        """read() as the servers answer it: counted."""
        idx, body = self.read(kind, arg, q)
        self.server_count(kind, how, 0 if body is _NOT_FOUND
                          else len(go_json(body)))
        return idx, body

    # ------------------------------------------------------------ agent cache
    def read_mode(self, kind, q, query):
        """How the agent answers a read: ("direct" | "cache" | "view",
        whether X-Cache is set).  health_endpoint.go: streaming serves
        indexed or ?cached health queries without ?near; the cache
        serves ?cached on background-refresh endpoints."""
        near = bool((query.get("near") or [""])[0])
        if kind == "health":
            streaming = self.streaming and not near
            use_cache = self.use_cache and (
                q.cached or (streaming and q.index > 0))
            if streaming and (use_cache or q.index > 0):
                return "view", use_cache
            return ("cache", True) if use_cache else ("direct", False)
        if kind in ("services", "service") and self.use_cache and q.cached:
            return "cache", True
        return "direct", False

    def cache_entry(self, mode, kind, arg, q, token):
        """(entry, created) for a cached read; a new entry is filled now
        (one server query, or a subscription's snapshot).  Under the
        lock."""
        key = (mode, kind, arg, q.dc, tuple(q.tags), tuple(q.node_meta),
               token or "")
        ent = self.cache.get(key)
        if ent is not None:
            return ent, False
        eq = _EntryQuery(q.dc, q.tags, q.node_meta)
        ent = _CacheEntry(mode, kind, arg, eq)
        self._cache_fetch(ent, "snapshot" if mode == "view" else "fill")
        self.cache[key] = ent
        return ent, True

    def simple_entry(self, kind, token, q):
        """(value, hit, age) of a simple-type entry (datacenters)."""
        key = ("simple", kind, None, None, (), (), token or "")
        now = time.monotonic()
        ent = self.cache.get(key)
        fresh = (ent is not None and now - ent.used < CACHE_SIMPLE_TTL and
                 not q.must_revalidate and
                 not (q.max_age and now - ent.fetched_at > q.max_age))
        if not fresh:
            ent = ent or _CacheEntry("simple", kind, None, None)
            ent.value = list(self.datacenters)
            ent.fetched_at = now
            self.server_count(kind, "fill", len(go_json(ent.value)))
            self.cache[key] = ent
        ent.used = now
        return ent.value, fresh, now - ent.fetched_at

    def _cache_fetch(self, ent, how):
        """(Re)fill ent from the state, as a server query or a
        subscription would, and count what it cost the servers."""
        idx, body = self.read(ent.kind, ent.arg, ent.q)
        ent.index = max(idx, 1)
        ent.value = body
        ent.gen = self.generation
        ent.known_leader = bool(self.leader)
        ent.last_contact = 0
        if not ent.known_leader and self.leader_lost_at is not None:
            ent.last_contact = int((time.monotonic()
                                    - self.leader_lost_at) * 1000)
        ent.fetched_at = ent.since = time.monotonic()
        ent.period = self._refresh_period()
        if ent.mode != "view":
            self.server_count(ent.kind, how, len(go_json(body)))
            return
        rows = {}
        for e in body:
            rows[(e["Node"]["Node"], e["Service"]["ID"])] = go_json(e)
        if how == "snapshot":
            self.server_count(ent.kind, how, len(go_json(body)))
        else:
            changed = [v for k, v in rows.items() if ent.rows.get(k) != v]
            changed += [v for k, v in ent.rows.items() if k not in rows]
            self.server_count(ent.kind, "event", max(sum(
                len(v) + RPC_EVENT_OVERHEAD for v in changed),
                RPC_EVENT_OVERHEAD), events=max(len(changed), 1))
        ent.rows = rows

    def _refresh_period(self):
        """The cache's blocking query to the servers: QueryTimeout plus
        the servers' wait/16 jitter."""
        t = CACHE_QUERY_TIMEOUT
        return t + (random.uniform(0, t / JITTER_FRACTION)
                    if self.jitter else 0.0)

    def _cache_settle(self, ent, now):
        """Count the background refresh's expiries up to now: each is a
        not-modified reply (no body)."""
        if ent.mode != "cache":
            return
        while now - ent.since >= ent.period:
            ent.since += ent.period
            ent.period = self._refresh_period()
            self.server_count(ent.kind, "not-modified", 0)

    def _cache_refresh(self):
        """A write: every entry whose data moved is refreshed now, as
        its blocking query (or subscription) would return with it; a
        restore refreshes them all (the servers abandon their queries)."""
        now = time.monotonic()
        for ent in self.cache.values():
            if ent.mode == "simple":
                continue
            idx = max(self.index_of(ent.kind, ent.arg, ent.q), 1)
            if idx == ent.index and ent.gen == self.generation:
                continue
            self._cache_settle(ent, now)
            if ent.mode == "cache":
                how = "refresh"
            elif ent.gen == self.generation:
                how = "event"
            else:       # the servers closed the subscription: a new one
                how = "snapshot"
            self._cache_fetch(ent, how)

    # ------------------------------------------------------------ views
    def _node_view(self, n):
        return {"ID": n["ID"], "Node": n["Node"], "Address": n["Address"],
                "Datacenter": n["Datacenter"],
                "TaggedAddresses": n["TaggedAddresses"], "Meta": n["Meta"],
                "CreateIndex": n["CreateIndex"],
                "ModifyIndex": n["ModifyIndex"]}

    def _ns_view(self, s):
        out = {}
        if s["Kind"]:
            out["Kind"] = s["Kind"]
        out.update({"ID": s["ID"], "Service": s["Service"],
                    "Tags": list(s["Tags"]), "Address": s["Address"]})
        tagged = s["TaggedAddresses"] or _tagged_service_addresses(
            s["Address"], s["Port"])
        if tagged:
            out["TaggedAddresses"] = tagged
        out["Meta"] = s["Meta"]
        if s["Port"]:
            out["Port"] = s["Port"]
        if s["SocketPath"]:
            out["SocketPath"] = s["SocketPath"]
        out.update({"Weights": s["Weights"],
                    "EnableTagOverride": s["EnableTagOverride"],
                    "Proxy": {"Mode": "", "MeshGateway": {}, "Expose": {}},
                    "Connect": {}, "PeerName": "",
                    "CreateIndex": s["CreateIndex"],
                    "ModifyIndex": s["ModifyIndex"]})
        return out

    def _sn_view(self, n, s):
        out = {"ID": n["ID"], "Node": n["Node"], "Address": n["Address"],
               "Datacenter": n["Datacenter"],
               "TaggedAddresses": n["TaggedAddresses"],
               "NodeMeta": n["Meta"], "ServiceKind": s["Kind"],
               "ServiceID": s["ID"], "ServiceName": s["Service"],
               "ServiceTags": list(s["Tags"]),
               "ServiceAddress": s["Address"]}
        tagged = s["TaggedAddresses"] or _tagged_service_addresses(
            s["Address"], s["Port"])
        if tagged:
            out["ServiceTaggedAddresses"] = tagged
        out.update({"ServiceWeights": s["Weights"],
                    "ServiceMeta": s["Meta"] or {},
                    "ServicePort": s["Port"],
                    "ServiceSocketPath": s["SocketPath"],
                    "ServiceEnableTagOverride": s["EnableTagOverride"],
                    "ServiceProxy": {"Mode": "", "MeshGateway": {},
                                     "Expose": {}},
                    "ServiceConnect": {}, "ServiceLocality": None,
                    "CreateIndex": s["CreateIndex"],
                    "ModifyIndex": s["ModifyIndex"]})
        return out

    def _check_view(self, c):
        svc = self.st.services.get((c["Node"], c["ServiceID"]))
        return {"Node": c["Node"], "CheckID": c["CheckID"],
                "Name": c["Name"], "Status": c["Status"],
                "Notes": c["Notes"], "Output": c["Output"],
                "ServiceID": c["ServiceID"],
                "ServiceName": svc["Service"] if svc else "",
                "ServiceTags": list(svc["Tags"]) if svc else [],
                "Type": c["Type"], "Interval": c["Interval"],
                "Timeout": c["Timeout"],
                "ExposedPort": 0, "Definition": {},
                "CreateIndex": c["CreateIndex"],
                "ModifyIndex": c["ModifyIndex"]}

    def _kv_view(self, e):
        out = {"LockIndex": e["LockIndex"], "Key": e["Key"],
               "Flags": e["Flags"],
               "Value": base64.b64encode(e["Value"]).decode()
               if e["Value"] else None}
        if e.get("Session"):
            out["Session"] = e["Session"]
        out["CreateIndex"] = e["CreateIndex"]
        out["ModifyIndex"] = e["ModifyIndex"]
        return out

    # ------------------------------------------------------------ reads
    def _nodes_in(self, dc, node_meta):
        out = []
        for name in sorted(self.st.nodes, key=str.lower):
            n = self.st.nodes[name]
            if n["Datacenter"] != dc:
                continue
            if not _meta_matches(n["Meta"], node_meta):
                continue
            out.append(n)
        return out

    def _instances(self, name, dc, tags, node_meta):
        out = []
        for (node, sid) in sorted(self.st.name_svcs.get(name, ()),
                                  key=lambda k: (k[0].lower(), k[1])):
            s = self.st.services[(node, sid)]
            n = self.st.nodes.get(node)
            if n is None or n["Datacenter"] != dc:
                continue
            if any(t not in s["Tags"] for t in tags):
                continue
            if not _meta_matches(n["Meta"], node_meta):
                continue
            out.append((n, s))
        return out

    def _instance_checks(self, node, sid):
        checks = [c for c in self.st.checks_of(node)
                  if c["ServiceID"] in ("", sid)]
        checks.sort(key=lambda c: c["CheckID"].lower())
        return checks

    def index_of(self, kind, arg, q):
        """The X-Consul-Index of an endpoint (cheap: no body is built)."""
        st = self.st
        tables = st.tables
        if kind == "nodes":
            return tables["nodes"]
        if kind == "services":
            return tables["services"]
        if kind == "service":
            return st.svc_idx.get(arg) or max(tables["nodes"],
                                              tables["services"])
        if kind == "health":
            return st.svc_health_idx.get(arg) or max(
                tables["nodes"], tables["services"], tables["checks"])
        if kind == "node":
            return st.node_idx.get(arg) or max(tables["nodes"],
                                               tables["services"])
        table_idx = max(tables["kvs"], tables["tombstones"])
        if not q.recurse and not q.keys:
            e = st.kv.get(arg)
            return e["ModifyIndex"] if e else table_idx
        idx = max([e["ModifyIndex"] for k, e in st.kv.items()
                   if k.startswith(arg)] +
                  [i for k, i in st.tombstones.items()
                   if k.startswith(arg)] + [0])
        return idx or table_idx

    def read(self, kind, arg, q):
        """(index, body object or _NOT_FOUND) for a blocking endpoint."""
        st = self.st
        dc = q.dc
        tables = st.tables
        if kind == "nodes":
            body = [self._node_view(n) for n in
                    self._nodes_in(dc, q.node_meta)]
            return tables["nodes"], body
        if kind == "services":
            tags = {}
            for (node, _), s in st.services.items():
                n = st.nodes.get(node)
                if n is None or n["Datacenter"] != dc:
                    continue
                if not _meta_matches(n["Meta"], q.node_meta):
                    continue
                tags.setdefault(s["Service"], set()).update(s["Tags"])
            body = {k: sorted(tags[k]) for k in sorted(tags)}
            return tables["services"], body
        if kind == "service":
            idx = st.svc_idx.get(arg) or max(tables["nodes"],
                                             tables["services"])
            body = [self._sn_view(n, s) for n, s in
                    self._instances(arg, dc, q.tags, q.node_meta)]
            return idx, body
        if kind == "health":
            idx = st.svc_health_idx.get(arg) or max(
                tables["nodes"], tables["services"], tables["checks"])
            body = []
            for n, s in self._instances(arg, dc, q.tags, q.node_meta):
                checks = self._instance_checks(n["Node"], s["ID"])
                if q.passing and any(c["Status"] != "passing"
                                     for c in checks):
                    continue
                body.append({"Node": self._node_view(n),
                             "Service": self._ns_view(s),
                             "Checks": [self._check_view(c)
                                        for c in checks]})
            return idx, body
        if kind == "node":
            n = st.nodes.get(arg)
            idx = st.node_idx.get(arg) or max(tables["nodes"],
                                              tables["services"])
            if n is None or n["Datacenter"] != dc:
                return idx, None
            svcs = {s["ID"]: self._ns_view(s)
                    for s in st.services_of(arg)}
            return idx, {"Node": self._node_view(n), "Services": svcs}
        if kind == "kv":
            return self._read_kv(arg, q)
        raise AssertionError(kind)

    def _read_kv(self, key, q):
        st = self.st
        table_idx = max(st.tables["kvs"], st.tables["tombstones"])
        if not q.recurse and not q.keys:
            e = st.kv.get(key)
            if e is None:
                return table_idx, _NOT_FOUND
            return e["ModifyIndex"], [self._kv_view(e)]
        entries = [st.kv[k] for k in sorted(st.kv) if k.startswith(key)]
        idx = max([e["ModifyIndex"] for e in entries] +
                  [i for k, i in st.tombstones.items()
                   if k.startswith(key)] + [0])
        if idx == 0:
            idx = table_idx
        if q.keys:
            names = []
            for e in entries:
                k = e["Key"]
                if q.separator:
                    cut = k.find(q.separator, len(key))
                    if cut >= 0:
                        k = k[:cut + len(q.separator)]
                if not names or names[-1] != k:
                    names.append(k)
            if not names and key:
                return idx, _NOT_FOUND
            return idx, names
        if not entries:
            return idx, _NOT_FOUND
        return idx, [self._kv_view(e) for e in entries]

    def agent_self(self):
        return {
            "Config": {"Datacenter": self.datacenter,
                       "NodeName": self.node_name, "NodeID": self.node_id,
                       "Server": True, "Revision": "simulated",
                       "Version": self.version},
            "DebugConfig": {"Datacenter": self.datacenter,
                            "NodeName": self.node_name,
                            "ACLsEnabled": self.acl_enabled,
                            "HTTPUseCache": self.use_cache},
            "Coord": {"Vec": [0, 0, 0, 0, 0, 0, 0, 0], "Error": 1.5,
                      "Adjustment": 0, "Height": 0.00001},
            "Member": {"Name": self.node_name, "Addr": self.agent_address,
                       "Port": 8301,
                       "Tags": {"build": self.version + ":simulated",
                                "dc": self.datacenter, "id": self.node_id,
                                "role": "consul", "segment": "",
                                "vsn": "2", "vsn_max": "3", "vsn_min": "2"},
                       "Status": 1, "ProtocolMin": 1, "ProtocolMax": 5,
                       "ProtocolCur": 2, "DelegateMin": 2,
                       "DelegateMax": 5, "DelegateCur": 4},
            "Meta": {"consul-network-segment": "",
                     "consul-version": self.version},
        }


_NOT_FOUND = object()


def _server_counters():
    return {"requests": 0, "events": 0, "bytes": 0, "by_kind": {}}


class _EntryQuery:
    """The part of a read's query that keys a cache entry (?passing is
    applied by the agent on every answer, after the cache)."""

    def __init__(self, dc, tags, node_meta):
        self.dc = dc
        self.tags = list(tags)
        self.node_meta = list(node_meta)
        self.passing = False
        self.recurse = self.keys = False
        self.separator = ""


class _CacheEntry:
    """One agent cache entry: mode "cache" (background refresh), "view"
    (streaming) or "simple"."""

    def __init__(self, mode, kind, arg, q):
        self.mode, self.kind, self.arg, self.q = mode, kind, arg, q
        self.value = None
        self.index = 0
        self.gen = 0
        self.known_leader = True
        self.last_contact = 0
        self.fetched_at = self.since = self.used = 0.0
        self.period = CACHE_QUERY_TIMEOUT
        self.rows = {}


def _only_passing(body):
    return [e for e in body
            if all(c["Status"] == "passing" for c in e["Checks"])]


class _DropConnection(Exception):
    """Close the client's connection without an answer."""


def _meta_matches(meta, wanted):
    for k, v in wanted:
        if (meta or {}).get(k) != v:
            return False
    return True


def _split_hostport(text):
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    return host, int(port or 0)


class _TCPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _TCPServer6(_TCPServer):
    address_family = socket.AF_INET6


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, path, handler):
        super().__init__(path, handler)

    def server_bind(self):
        socketserver.UnixStreamServer.server_bind(self)
        self.server_name = "localhost"
        self.server_port = 0


class _Query:
    """Parsed query options shared by the read endpoints."""

    def __init__(self, sim, query, headers=None):
        self.raw = query

        def one(name):
            v = query.get(name)
            return v[0] if v else None

        self.pretty = "pretty" in query
        self.dc = one("dc") or sim.datacenter
        self.tags = [t for t in query.get("tag", [])]
        self.node_meta = []
        for v in query.get("node-meta", []):
            k, _, val = v.partition(":")
            self.node_meta.append((k, val))
        self.recurse = "recurse" in query
        self.keys = "keys" in query
        self.separator = one("separator") or one("seperator") or ""
        self.passing = False
        if "passing" in query:
            try:
                self.passing = parse_go_bool(one("passing"))
            except ValueError:
                raise ApiError(400, "Invalid value for ?passing")
        # parseWait: index first, then wait; empty strings are skipped
        self.index = 0
        self.wait = None
        idx = one("index")
        if idx:
            if not re.fullmatch(r"\d+", idx) or int(idx) >= 1 << 64:
                raise ApiError(400, "Invalid index")
            self.index = int(idx)
        wait = one("wait")
        if wait:
            try:
                self.wait = parse_go_duration(wait)
            except ValueError:
                raise ApiError(400, "Invalid wait time")
        # parseConsistency: presence semantics
        self.stale = "stale" in query
        self.consistent = "consistent" in query
        self.max_stale = None
        ms = one("max_stale")
        if ms is not None and "max_stale" in query:
            try:
                self.max_stale = parse_go_duration(ms)
            except ValueError:
                raise ApiError(400, 'Invalid max_stale value "%s"' % ms)
            self.stale = True
        if "leader" in query:
            self.stale = False
        if self.stale and self.consistent:
            raise ApiError(400, "Cannot specify ?stale with ?consistent, "
                                "conflicting semantics.")
        # ?cached counts only when the agent has http_config.use_cache
        self.cached = "cached" in query and sim.use_cache
        if self.cached and self.consistent:
            raise ApiError(400, "Cannot specify ?cached with ?consistent, "
                                "conflicting semantics.")
        self._cache_control((headers or {}).get("Cache-Control") or "")
        if one("ns"):
            raise ApiError(400, 'Invalid query parameter: "ns" - '
                                "Namespaces are a Consul Enterprise feature")
        part = one("partition")
        if part and part != "default":
            raise ApiError(400, 'Invalid query parameter: "partition" - '
                                "Partitions are a Consul Enterprise feature")
        if self.stale:
            self.consistency = "stale"
        elif self.consistent:
            self.consistency = "consistent"
        else:
            self.consistency = "leader"

    def _cache_control(self, raw):
        """parseCacheControl: max-age, must-revalidate, stale-if-error;
        max-age=0 means must-revalidate; a bad number is a 400."""
        self.max_age = 0
        self.must_revalidate = False
        self.stale_if_error = 0
        for d in raw.lower().split(","):
            d = d.strip()
            if d == "must-revalidate":
                self.must_revalidate = True
            for name in ("max-age=", "stale-if-error="):
                if not d.startswith(name):
                    continue
                try:
                    v = int(d[len(name):])
                except ValueError:
                    raise ApiError(400, "Invalid Cache-Control header.")
                if name == "max-age=":
                    self.max_age = v
                    self.must_revalidate |= v == 0
                else:
                    self.stale_if_error = v


_READ_ROUTES = (
    ("/v1/catalog/nodes", "nodes", False),
    ("/v1/catalog/services", "services", False),
    ("/v1/catalog/service/", "service", True),
    ("/v1/catalog/node/", "node", True),
    ("/v1/health/service/", "health", True),
    ("/v1/kv/", "kv", True),
)
_MISSING = {"service": "Missing service name", "health":
            "Missing service name", "node": "Missing node name",
            "kv": "Missing key name"}
_ACL_RESOURCE = {"nodes": "node", "services": "service", "service":
                 "service", "health": "service", "node": "node",
                 "kv": "key", "agent": "agent"}


def _make_handler(sim):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "consul-sim"
        sys_version = ""

        def setup(self):
            super().setup()
            self.ip = self.client_address[0] \
                if isinstance(self.client_address, tuple) else None
            if self.ip is not None:
                # Go's net/http (Consul) sets TCP_NODELAY on every TCP
                # connection. Without it the body, written after the
                # headers, waits for the client's delayed ACK (~40 ms)
                # on a kept-alive connection, and every benchmark
                # measures the simulator.
                self.connection.setsockopt(socket.IPPROTO_TCP,
                                           socket.TCP_NODELAY, 1)
                nodelay = self.connection.getsockopt(socket.IPPROTO_TCP,
                                                     socket.TCP_NODELAY)
                with sim.lock:
                    sim.conn_stats["nodelay"] += bool(nodelay)
            with sim.lock:
                sim.conns.add(self.connection)
                cs = sim.conn_stats
                cs["total"] += 1
                cs["open"] += 1
                cs["max_open"] = max(cs["max_open"], cs["open"])
                n = sim.conns_by_ip.get(self.ip, 0) + 1
                sim.conns_by_ip[self.ip] = n
                limit = sim.max_conns_per_client
                # http_max_conns_per_client: TCP clients only
                self.over_limit = bool(self.ip and limit and n > limit)
                if self.over_limit:
                    cs["refused"] += 1
                sim.cond.notify_all()

        def handle(self):
            if not self.over_limit:
                return super().handle()
            # Consul's connection limiter answers before reading anything
            body = BODY_429["too-many-connections"].encode()
            self.wfile.write(
                b"HTTP/1.1 429 Too Many Requests\r\n"
                b"Content-Type: text/plain; charset=utf-8\r\n"
                b"Date: " + self.date_time_string().encode() + b"\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (len(body), body))

        def finish(self):
            with sim.lock:
                sim.conns.discard(self.connection)
                sim.conn_stats["open"] -= 1
                sim.conns_by_ip[self.ip] -= 1
                sim.cond.notify_all()
            super().finish()

        def address_string(self):
            if isinstance(self.client_address, tuple):
                return self.client_address[0]
            return "unix"

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            self._handle()

        def do_PUT(self):
            self._handle()

        def do_POST(self):
            self._handle()

        def do_DELETE(self):
            self._handle()

        def do_HEAD(self):
            self._handle()

        # ---------------------------------------------------- plumbing
        def _handle(self):
            u = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(u.path)
            query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.close_connection = True
                return self._send(413, b"request body too large")
            self.req_body = self.rfile.read(length) if length else b""
            if path.startswith("/_sim/"):
                return self._control(path[len("/_sim/"):])
            self.entry = self._log_start(path, query)
            self.resp_index = None
            try:
                self._serve_api(path, query)
            except ApiError as e:
                self._send_text(e.status, e.body, e.headers)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            except _DropConnection:
                self._reset()
            finally:
                self._log_end()

        def _log_start(self, path, query):
            tok = self._token(query)
            redacted = {k: (["<redacted>"] if k == "token" else v)
                        for k, v in query.items()}
            hdrs = {}
            for k, v in self.headers.items():
                if k.lower() in ("x-consul-token", "authorization"):
                    v = "<redacted>"
                hdrs[k] = v
            with sim.cond:
                sim.req_seq += 1
                e = {"id": sim.req_seq, "method": self.command,
                     "path": path, "query": redacted, "headers": hdrs,
                     "token_present": tok is not None,
                     "status": None, "index": None, "fault": None,
                     "time": time.time(), "duration": None}
                if len(sim.log) < REQUEST_LOG_MAX:
                    sim.log.append(e)
                sim.counters["total"] += 1
                bp = sim.counters["by_path"]
                bp[path] = bp.get(path, 0) + 1
            self.t0 = time.monotonic()
            return e

        def _log_end(self):
            e = self.entry
            with sim.cond:
                e["duration"] = round(time.monotonic() - self.t0, 6)
                if e["status"] is None:
                    e["status"] = 0   # connection dropped, no answer
                bs = sim.counters["by_status"]
                key = str(e["status"])
                bs[key] = bs.get(key, 0) + 1
                sim.cond.notify_all()
            q = urllib.parse.urlsplit(self.path).query
            q = re.sub(r"(^|&)token=[^&]*", r"\1token=<redacted>", q)
            sim._log("%s %s%s -> %s index=%s %.3fs%s" % (
                e["method"], e["path"], "?" + q if q else "",
                e["status"], e["index"], e["duration"],
                " fault=" + e["fault"] if e["fault"] else ""))

        def _token(self, query):
            if "token" in query and query["token"][0]:
                return query["token"][0]
            t = self.headers.get("X-Consul-Token")
            if t:
                return t
            auth = self.headers.get("Authorization", "")
            scheme, _, rest = auth.partition(" ")
            if scheme.lower() == "bearer" and rest.strip():
                return rest.strip()
            return None

        def send_response(self, code, message=None):
            # Consul (Go net/http) sends Date but no Server header
            self.log_request(code)
            self.send_response_only(code, message or STATUS_TEXT.get(code))
            self.send_header("Date", self.date_time_string())

        def _send(self, status, body, headers=None, ctype=None,
                  chunked=False):
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if self.command == "HEAD":
                body = b""
            if chunked and self.request_version == "HTTP/1.1":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(body), 4096):
                    part = body[i:i + 4096]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            if hasattr(self, "entry") and self.entry["status"] is None:
                self.entry["status"] = status

        def _send_text(self, status, text, headers=None):
            h = {"Vary": "Accept-Encoding",
                 "X-Consul-Default-Acl-Policy":
                     "deny" if sim.acl_enabled else "allow"}
            h.update(headers or {})
            self._send(status, text.encode(), h,
                       "text/plain; charset=utf-8")

        # ---------------------------------------------------- faults
        def _take_fault(self, path):
            with sim.lock:
                for f in sim.faults:
                    if f.path and not path.startswith(f.path):
                        continue
                    if f.count is not None and f.applied >= f.count:
                        continue
                    f.applied += 1
                    sim.counters["faults_applied"] += 1
                    self.entry["fault"] = f.mode
                    sim.faults = [g for g in sim.faults
                                  if g.count is None or g.applied < g.count]
                    return f
            return None

        def _reset(self):
            try:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close_connection = True
            try:
                self.connection.close()
            except OSError:
                pass

        def _pre_fault(self, f):
            """Faults that replace the answer.  True if handled."""
            m, p = f.mode, f.params
            if m == "no-leader":
                self._send_text(500, BODY_NO_LEADER)
            elif m == "rate-limit":
                variant = p.get("variant", "too-many-connections")
                body = BODY_429.get(variant, variant)
                if variant == "too-many-connections":
                    self._send(429, body.encode(), None,
                               "text/plain; charset=utf-8")
                else:
                    self._send_text(429, body)
            elif m == "status":
                self._send_text(int(p.get("status", 500)),
                                p.get("body", ""))
            elif m == "hang":
                sim.hang_release.wait(float(p.get("seconds", 600)))
                self._reset()
            elif m == "reset":
                self._reset()
            else:
                return False
            return True

        # ---------------------------------------------------- API
        def _serve_api(self, path, query):
            fault = self._take_fault(path)
            if fault and self._pre_fault(fault):
                return
            if path.startswith("/v1/kv/") and self.command in ("PUT",
                                                               "DELETE"):
                return self._kv_write(path[len("/v1/kv/"):], query)
            if path in ("/v1/catalog/register", "/v1/catalog/deregister"):
                return self._catalog_write(path)
            if self.command not in ("GET", "HEAD"):
                raise ApiError(405, "method %s not allowed" % self.command,
                               {"Allow": "GET"})
            if path == "/v1/status/leader":
                with sim.lock:
                    sim.server_count("leader", "direct",
                                     len(go_json(sim.leader)))
                return self._json(200, sim.leader, {}, fault)
            if path == "/v1/catalog/datacenters":
                q = _Query(sim, query, self.headers)
                with sim.lock:
                    if not q.cached:
                        body = list(sim.datacenters)
                        sim.server_count("datacenters", "direct",
                                         len(go_json(body)))
                        return self._json(200, body, {}, fault)
                    body, hit, age = sim.simple_entry(
                        "datacenters", self._token(query), q)
                h = {"X-Cache": "HIT" if hit else "MISS"}
                if hit:
                    h["Age"] = "%.0f" % age
                return self._json(200, body, h, fault)
            if path == "/v1/agent/self":
                q = _Query(sim, query, self.headers)
                self._acl("agent", sim.node_name)
                return self._json(200, sim.agent_self(), {}, fault,
                                  pretty=q.pretty)
            for prefix, kind, has_arg in _READ_ROUTES:
                if has_arg and path.startswith(prefix):
                    return self._blocking(kind, path[len(prefix):], query,
                                          fault)
                if not has_arg and path == prefix:
                    return self._blocking(kind, None, query, fault)
            if path in ("/v1/catalog/service", "/v1/health/service",
                        "/v1/catalog/node", "/v1/kv"):
                kind = {"/v1/catalog/service": "service",
                        "/v1/health/service": "health",
                        "/v1/catalog/node": "node", "/v1/kv": "kv"}[path]
                raise ApiError(400, _MISSING[kind])
            raise ApiError(404, "Invalid URL path: not a recognized HTTP "
                                "API endpoint")

        def _acl(self, kind, name):
            """Raise the 403 Consul would send; return the policy."""
            if not sim.acl_enabled:
                return "read"
            tok = self._token(urllib.parse.parse_qs(
                urllib.parse.urlsplit(self.path).query,
                keep_blank_values=True))
            with sim.lock:
                if tok is None:
                    if sim.acl_anonymous == "filter":
                        if kind in ("nodes", "services", "service",
                                    "health", "node"):
                            return "filter-anon"
                        raise ApiError(403, "Permission denied: anonymous "
                                       "token lacks permission '%s:read' "
                                       "on \"%s\". The anonymous token is "
                                       "used implicitly when a request "
                                       "does not specify a token." % (
                                           _ACL_RESOURCE[kind], name or ""))
                    raise ApiError(403, "ACL not found")
                t = sim.tokens.get(tok)
                if t is None or t["revoked"]:
                    raise ApiError(403, "ACL not found")
                if t["policy"] == "deny":
                    if sim.acl_denied_style == "old":
                        raise ApiError(403, "Permission denied")
                    raise ApiError(
                        403, "Permission denied: token with AccessorID "
                        "'%s' lacks permission '%s:read' on \"%s\"" % (
                            t["accessor"], _ACL_RESOURCE[kind], name or ""))
                return t["policy"]

        def _blocking(self, kind, arg, query, fault):
            if kind != "kv" and not arg and arg is not None:
                raise ApiError(400, _MISSING[kind])
            q = _Query(sim, query, self.headers)
            if kind == "kv" and not arg and not (q.recurse or q.keys):
                raise ApiError(400, _MISSING["kv"])
            if q.dc not in sim.datacenters:
                raise ApiError(500, "No path to datacenter")
            policy = self._acl(kind, arg)
            mode, x_cache = sim.read_mode(kind, q, query)
            # The cache and the views always read stale: no leader needed.
            if (mode == "direct" and not sim.leader
                    and q.consistency != "stale"):
                if sim.rpc_hold:
                    time.sleep(sim.rpc_hold)
                raise ApiError(500, BODY_NO_LEADER)
            backwards = fault is not None and fault.mode == "index-backwards"
            headers = {}
            if mode == "direct":
                idx, body, known_leader, last_contact = self._direct(
                    kind, arg, q, backwards)
                backend = "blocking-query"
            else:
                idx, body, known_leader, last_contact, hit, age = \
                    self._cached(mode, kind, arg, q, query, backwards)
                backend = "streaming" if mode == "view" else \
                    "blocking-query"
                if x_cache:
                    headers["X-Cache"] = "HIT" if hit else "MISS"
                    if hit:
                        headers["Age"] = "%.0f" % age
            if kind == "health" and q.passing and body is not _NOT_FOUND:
                body = _only_passing(body)   # the agent filters, after
            idx = max(idx, 1)
            if backwards:
                p = fault.params
                idx = int(p["index"]) if "index" in p else \
                    max(1, idx - int(p.get("by", max(1, idx // 2))))
            if not (fault is not None and fault.mode == "no-index"):
                headers["X-Consul-Index"] = str(idx)
            headers["X-Consul-Knownleader"] = \
                "true" if known_leader else "false"
            headers["X-Consul-Lastcontact"] = str(last_contact)
            headers["X-Consul-Effective-Consistency"] = q.consistency
            headers["X-Consul-Query-Backend"] = backend
            self.entry["index"] = idx
            if body is _NOT_FOUND:
                h = {"Vary": "Accept-Encoding",
                     "X-Consul-Default-Acl-Policy":
                         "deny" if sim.acl_enabled else "allow"}
                h.update(headers)
                return self._send(404, b"", h)
            if policy in ("filter", "filter-anon"):
                had = bool(body)
                body = {} if isinstance(body, dict) and kind != "node" \
                    else ([] if isinstance(body, list) else None)
                if had and policy == "filter":
                    headers["X-Consul-Results-Filtered-By-Acls"] = "true"
            return self._json(200, body, headers, fault, pretty=q.pretty)

        def _direct(self, kind, arg, q, backwards):
            """A read the agent forwards to the servers: they block on
            it (index > 0), and their answer is counted.  (index, body
            before ?passing, known leader, last contact)."""
            sq = copy.copy(q)
            sq.passing = False      # the agent filters, after the RPC
            with sim.cond:
                idx = sim.index_of(kind, arg, sq)
                if q.index > 0 and not backwards:
                    wait = q.wait if q.wait is not None else 0.0
                    if wait > MAX_QUERY_TIME:
                        wait = MAX_QUERY_TIME
                    elif wait <= 0:
                        wait = DEFAULT_QUERY_TIME
                    if sim.jitter:
                        wait += random.uniform(0, wait / JITTER_FRACTION)
                    deadline = time.monotonic() + wait
                    gen = sim.generation
                    sim.blocked[self.entry["id"]] = self.entry["path"]
                    sim.cond.notify_all()
                    try:
                        while (max(idx, 1) <= q.index
                               and gen == sim.generation
                               and not sim.stopping):
                            left = deadline - time.monotonic()
                            if left <= 0:
                                break
                            sim.cond.wait(left)
                            idx = sim.index_of(kind, arg, sq)
                        if sim.stopping:
                            raise _DropConnection()
                    finally:
                        del sim.blocked[self.entry["id"]]
                        sim.cond.notify_all()
                idx, body = sim.server_read(kind, arg, sq)
                known_leader = bool(sim.leader)
                last_contact = 0
                if not known_leader and sim.leader_lost_at is not None:
                    last_contact = int((time.monotonic()
                                        - sim.leader_lost_at) * 1000)
            return idx, body, known_leader, last_contact

        def _cached(self, mode, kind, arg, q, query, backwards):
            """A read the agent answers from its cache or a streaming
            view (agent/cache Get, submatview getFromView): at once when
            the entry's index is above the request's (a hit), else when
            the entry moves or the request's wait ends.  (index, body,
            known leader, last contact, hit, age)."""
            token = self._token(query)
            with sim.cond:
                ent, created = sim.cache_entry(mode, kind, arg, q, token)
                hit = not created and (q.index == 0 or q.index < ent.index)
                if q.index >= ent.index and not backwards:
                    if mode == "view":   # QueryOptionDefaults
                        wait = q.wait if q.wait else DEFAULT_QUERY_TIME
                        wait = min(wait, MAX_QUERY_TIME)
                    else:                # no wait: no timeout
                        wait = q.wait if q.wait else None
                    deadline = None if wait is None else \
                        time.monotonic() + wait
                    gen = sim.generation
                    sim.blocked[self.entry["id"]] = self.entry["path"]
                    sim.cond.notify_all()
                    try:
                        while (ent.index <= q.index
                               and gen == sim.generation
                               and not sim.stopping):
                            left = None if deadline is None else \
                                deadline - time.monotonic()
                            if left is not None and left <= 0:
                                break
                            sim.cond.wait(left)
                        if sim.stopping:
                            raise _DropConnection()
                    finally:
                        del sim.blocked[self.entry["id"]]
                        sim.cond.notify_all()
                if mode == "view":
                    return ent.index, ent.value, False, 0, hit, 0.0
                return (ent.index, ent.value, ent.known_leader,
                        ent.last_contact, hit, 0.0)

        def _json(self, status, obj, headers, fault, pretty=False):
            body = go_json(obj, pretty)
            h = {"Vary": "Accept-Encoding",
                 "X-Consul-Default-Acl-Policy":
                     "deny" if sim.acl_enabled else "allow"}
            h.update(headers)
            mode = fault.mode if fault else None
            if mode == "garbage":
                body = b"<html>\x00\xff{\"Node\": [garbage"
            elif mode == "truncated":
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in h.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body) + 100))
                self.end_headers()
                self.wfile.write(body[:max(1, len(body) // 2)])
                self.wfile.flush()
                self.entry["status"] = status
                self.close_connection = True
                return
            elif mode == "huge":
                # The real answer followed by "bytes" of blanks: valid JSON
                # that only a client with no size limit would accept.
                pad = int(fault.params.get("bytes", 100 << 20))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in h.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body) + pad))
                self.end_headers()
                self.entry["status"] = status
                try:
                    self.wfile.write(body)
                    block = b" " * (1 << 20)
                    while pad > 0:
                        n = min(pad, len(block))
                        self.wfile.write(block[:n])
                        pad -= n
                    self.wfile.flush()
                except OSError:
                    pass  # the client hung up at its limit
                self.close_connection = True
                return
            elif mode == "slow-body":
                chunk = max(1, int(fault.params.get("chunk", 16)))
                delay = float(fault.params.get("delay_ms", 100)) / 1000.0
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in h.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.entry["status"] = status
                for i in range(0, len(body), chunk):
                    self.wfile.write(body[i:i + chunk])
                    self.wfile.flush()
                    if i + chunk < len(body):
                        time.sleep(delay)
                return
            accept = self.headers.get("Accept-Encoding", "")
            big = len(body) > CHUNKED_ABOVE
            if "gzip" in accept and len(body) >= GZIP_MIN_SIZE:
                body = gzip.compress(body)
                h["Content-Encoding"] = "gzip"
            self._send(status, body, h, "application/json", chunked=big)

        # ---------------------------------------------------- API writes
        def _kv_write(self, key, query):
            if not key:
                raise ApiError(400, "Missing key name")
            self._acl("kv", key)
            if self.command == "DELETE":
                sim.kv_delete(key, recurse="recurse" in query)
            else:
                flags = int((query.get("flags") or ["0"])[0])
                sim.kv_set(key, self.req_body, flags)
            self._json(200, True, {}, None)

        def _catalog_write(self, path):
            if self.command != "PUT":
                raise ApiError(405, "method %s not allowed" % self.command,
                               {"Allow": "PUT"})
            self._acl("node", "")
            try:
                doc = json.loads(self.req_body or b"{}")
            except ValueError as e:
                raise ApiError(400, "Request decode failed: %s" % e)
            node = doc.get("Node")
            if not node:
                raise ApiError(400, "Must provide node")
            if path.endswith("/deregister"):
                if doc.get("CheckID"):
                    sim.deregister_check(node, doc["CheckID"])
                elif doc.get("ServiceID"):
                    sim.deregister_service(node, doc["ServiceID"])
                else:
                    sim.deregister_node(node)
                return self._json(200, True, {}, None)
            if not doc.get("Address"):
                raise ApiError(400, "Must provide address if "
                                    "SkipNodeUpdate is not set")
            sim.register_node(node, doc["Address"], doc.get("ID", ""),
                              doc.get("Datacenter"),
                              doc.get("TaggedAddresses"), doc.get("NodeMeta"))
            s = doc.get("Service")
            if s:
                sim.register_service(
                    node, s.get("Service"), s.get("ID"), s.get("Tags"),
                    s.get("Address", ""), s.get("Port", 0), s.get("Meta"),
                    s.get("Weights"))
            checks = doc.get("Checks") or ([doc["Check"]]
                                           if doc.get("Check") else [])
            for c in checks:
                sim.set_check(node, c.get("CheckID") or c.get("Name"),
                              c.get("Status", "critical"),
                              c.get("ServiceID", ""), c.get("Name"),
                              c.get("Output", ""), c.get("Notes", ""))
            return self._json(200, True, {}, None)

        # ---------------------------------------------------- control
        def _control(self, action):
            action = action.strip("/").replace("-", "_")
            try:
                args = json.loads(self.req_body) if self.req_body else {}
                if not isinstance(args, dict):
                    raise ValueError("body must be a JSON object")
            except ValueError as e:
                return self._send(400, go_json({"error": str(e)}), None,
                                  "application/json")
            if action == "requests":
                u = urllib.parse.urlsplit(self.path)
                qs = urllib.parse.parse_qs(u.query)
                result = sim.requests((qs.get("path") or [None])[0])
                return self._send(200, go_json(result), None,
                                  "application/json")
            if action == "await_requests" and "timeout" in args:
                args["timeout"] = min(float(args["timeout"]), 600.0)
            fn = getattr(sim, action, None) \
                if action in _CONTROL_ACTIONS else None
            if fn is None:
                return self._send(404, go_json({"error": "unknown action"}),
                                  None, "application/json")
            if action == "load_catalog":
                kwargs = {"doc": args}
            else:
                kwargs = {_snake(k): v for k, v in args.items()}
                if "check_i_d" in kwargs:
                    kwargs["check_id"] = kwargs.pop("check_i_d")
            try:
                result = fn(**kwargs)
            except ApiError as e:
                return self._send(e.status, go_json({"error": e.body}),
                                  None, "application/json")
            except (TypeError, ValueError, KeyError) as e:
                return self._send(400, go_json({"error": str(e)}), None,
                                  "application/json")
            if action == "snapshot":
                result = {"id": result}
            return self._send(200, go_json({"ok": True, "result": result,
                                            "index": sim.index}),
                              None, "application/json")

    return Handler


_CONTROL_ACTIONS = {
    "register_node", "deregister_node", "register_service",
    "deregister_service", "set_check", "deregister_check", "maintenance",
    "kv_set", "kv_delete", "kv_reap_tombstones", "set_fault",
    "clear_faults", "acl_set_token", "acl_revoke", "acl_restore",
    "acl_require", "set_leader", "snapshot", "restore", "load_catalog",
    "reset_log", "state", "await_requests", "server_load", "configure",
}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Consul HTTP API simulator")
    ap.add_argument("--listen", default="127.0.0.1:0",
                    help="host:port (port 0 picks a free port)")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--unix", help="also listen on this unix socket")
    ap.add_argument("--no-tcp", action="store_true",
                    help="listen only on --unix")
    ap.add_argument("--seed", help="seed catalog JSON")
    ap.add_argument("--token-required", metavar="TOKEN",
                    help="enable ACLs; TOKEN may read everything")
    ap.add_argument("--no-jitter", action="store_true",
                    help="no wait/16 jitter on blocking queries")
    ap.add_argument("--rpc-hold", type=float, default=0.0,
                    help="seconds to hold reads when there is no leader")
    ap.add_argument("--no-streaming", action="store_true",
                    help="health queries always say blocking-query")
    ap.add_argument("--no-cache", action="store_true",
                    help="http_config.use_cache = false: ?cached ignored")
    ap.add_argument("--max-conns-per-client", type=int, default=200,
                    help="429 past this many TCP connections per client IP"
                    " (0: no limit)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    sim = ConsulSim(listen=None if args.no_tcp else args.listen,
                    unix_path=args.unix, seed=args.seed,
                    token_required=args.token_required, quiet=args.quiet,
                    jitter=not args.no_jitter, rpc_hold=args.rpc_hold,
                    streaming=not args.no_streaming,
                    max_conns_per_client=args.max_conns_per_client,
                    use_cache=not args.no_cache)
    sim.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % (sim.port or 0))
        os.rename(tmp, args.port_file)
    sim._log("listening on %s%s" % (
        sim.url if sim.port else "", " unix:" + args.unix
        if args.unix else ""))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(3600):
        pass
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
