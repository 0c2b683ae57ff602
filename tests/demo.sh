#!/usr/bin/env bash
# The main job, end to end: start the demo Consul API (the simulator with the
# seed catalog) on loopback, print a dry-run render of templates/hosts.tmpl,
# then show which backend each node of the fleet would put first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${CH_BIN:-$here/build/consul-hosts}
tmp=$(mktemp -d)
sim_pid=
cleanup() {
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

python3 "$here/tests/sim/consul_sim.py" --listen 127.0.0.1:0 \
    --port-file "$tmp/port" --seed "$here/tests/sim/seed-catalog.json" --quiet &
sim_pid=$!
# The simulator writes the port file once it listens (bounded wait).
for _ in $(seq 200); do
    [ -s "$tmp/port" ] && break
    kill -0 "$sim_pid" 2>/dev/null || { echo "simulator failed to start" >&2; exit 1; }
    sleep 0.05
done
addr="127.0.0.1:$(cat "$tmp/port")"

echo "== consul-hosts -consul-addr $addr -template templates/hosts.tmpl -once -dry"
"$bin" -consul-addr "$addr" -template "$here/templates/hosts.tmpl" -once -dry
echo
echo "== consul-hosts -consul-addr $addr -explain foo-app"
"$bin" -consul-addr "$addr" -explain foo-app
