#!/bin/sh
# The benchmark suite: one command, one table (tests/bench/RESULTS.md).
#
#   tests/bench/run.sh [--smoke] [--out DIR] [--idle-minutes N]
#                      [--window-minutes N] [--changes N] [--fleet N]
#                      [--failover-changes N]
#
# Uses $CH_BIN and $CH_RENDER_BENCH, else build-bench/ (Release; built
# here when missing). --smoke runs every driver with tiny parameters in
# under three minutes and fails only on breakage, never on numbers. The
# full run takes about 2 h 50 min on 2 cores: 10 idle minutes, 5 agent
# outages of 30 s, bench_scale's 50,000-instance catalog, and about 110
# minutes of failover (bench_failover.py: 100 changes of each kind per
# command style, paced by the command budget; --failover-changes 0 skips
# it). bench_failover needs /usr/sbin/dnsmasq (dnsmasq-base) and
# otherwise says it skipped.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
smoke=
out=
idle_min=10
window_min=5
changes=1000
fleet=200
failover=100
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) smoke=--smoke ;;
	--out) out=$2; shift ;;
	--idle-minutes) idle_min=$2; shift ;;
	--window-minutes) window_min=$2; shift ;;
	--changes) changes=$2; shift ;;
	--fleet) fleet=$2; shift ;;
	--failover-changes) failover=$2; shift ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

build=${CH_BUILD_DIR:-$src/build-bench}
if [ -z "${CH_BIN:-}" ] || [ -z "${CH_RENDER_BENCH:-}" ]; then
	if [ ! -x "$build/consul-hosts" ] ||
	    [ ! -x "$build/tests/bench/render_bench" ]; then
		echo "run.sh: building $build (Release)" >&2
		cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
		    >/dev/null
		cmake --build "$build" -j2 --target consul-hosts render_bench \
		    >/dev/null
	fi
fi
CH_BIN=${CH_BIN:-$build/consul-hosts}
CH_RENDER_BENCH=${CH_RENDER_BENCH:-$build/tests/bench/render_bench}
CH_SOURCE_DIR=$src
PYTHONDONTWRITEBYTECODE=1
export CH_BIN CH_RENDER_BENCH CH_SOURCE_DIR PYTHONDONTWRITEBYTECODE
out=${out:-$build/bench-results${smoke:+-smoke}}
mkdir -p "$out"
rm -f "$out"/*.json

py=${PYTHON:-python3}
failed=
run() {
	name=$1; shift
	echo "== $name" >&2
	if ! "$py" "$here/$name.py" $smoke --out "$out" "$@" >/dev/null; then
		echo "run.sh: $name FAILED" >&2
		failed="$failed $name"
	fi
}

idle_s=$((idle_min * 60))
window_s=$((window_min * 60))
run bench_render
run bench_latency
run bench_scale
run bench_load
run bench_idle --idle "$idle_s" --window "$window_s" --changes "$changes"
run bench_fleet --daemons "$fleet"
run bench_outage
if [ "$failover" -gt 0 ] || [ -n "$smoke" ]; then
	run bench_failover --changes "$failover"
fi

"$py" "$here/report.py" "$out" ${smoke:+--no-targets}
if [ -n "$failed" ]; then
	echo "run.sh: failed:$failed" >&2
	exit 1
fi
