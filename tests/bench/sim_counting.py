#!/usr/bin/env python3
"""The Consul simulator (tests/sim/consul_sim.py) with wire byte counts.

Same command line as consul_sim.py. Every API request's log entry (GET
/_sim/requests) gains "bytes_out": the bytes of its answer on the wire,
status line and headers included, and "bytes_in": the request line and
headers as received (the body is counted too). Used by the benchmarks to
report Consul load per change in bytes as well as in requests.
"""

import os
import sys

SRC = os.environ.get("CH_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))

import consul_sim  # noqa: E402


class _CountingWriter:
    def __init__(self, inner, handler):
        self._inner = inner
        self._handler = handler

    def write(self, b):
        n = self._inner.write(b)
        self._handler.bytes_out += len(b)
        return n

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _counting_handler(make):
    def make_counting(sim):
        base = make(sim)

        class Counting(base):
            def setup(self):
                super().setup()
                self.bytes_out = 0
                self.wfile = _CountingWriter(self.wfile, self)

            def _handle(self):
                before = getattr(self, "entry", None)
                self.bytes_out = 0
                head = len(self.requestline) + 2 + sum(
                    len(k) + len(v) + 4 for k, v in self.headers.items()) + 2
                try:
                    super()._handle()
                finally:
                    e = getattr(self, "entry", None)
                    if e is not None and e is not before:
                        with sim.lock:
                            e["bytes_out"] = self.bytes_out
                            e["bytes_in"] = head + len(
                                getattr(self, "req_body", b""))

        return Counting
    return make_counting


consul_sim._make_handler = _counting_handler(consul_sim._make_handler)

if __name__ == "__main__":
    sys.exit(consul_sim.main())
