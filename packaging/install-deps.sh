#!/bin/sh
# shellcheck disable=SC2086 # package lists are split on spaces on purpose
# install-deps.sh: install everything consul-hosts needs to build, test and
# package on Debian 12 (bookworm).  Idempotent: when every package is
# already installed it touches nothing (and needs no root).  Otherwise it
# runs apt-get update + install, noninteractively, as root (or via sudo).
#
#   sudo packaging/install-deps.sh          # install what is missing
#   packaging/install-deps.sh --check       # exit 1 if something is missing
#   packaging/install-deps.sh --list        # print the package list
set -eu

# build
PKGS="build-essential cmake pkg-config git"
# runtime libraries (headers)
PKGS="$PKGS libcurl4-openssl-dev libjansson-dev libuv1-dev libpcre2-dev"
# tests: unit (cmocka), simulator and integration (python3), dnsmasq + dig,
# TLS test certificates, sanitizers/fuzzing (clang), leaks (valgrind)
PKGS="$PKGS libcmocka-dev python3 dnsmasq-base dnsutils openssl"
# clang + its runtimes (libFuzzer, sanitizers): a Recommends, so named
PKGS="$PKGS clang libclang-rt-14-dev"
PKGS="$PKGS valgrind clang-format ca-certificates curl procps"
# packaging: rpmbuild, rpmlint, systemd-analyze verify for the unit file,
# cpio and secilc for the SELinux module's check
PKGS="$PKGS rpm rpmlint systemd file cpio secilc"
# Also: promtool (`promtool check metrics` in tests/integration/
# test_observe.py), taken from Debian's prometheus package into
# /usr/local/bin. Installing that package would start a Prometheus server
# (its postinst runs the init script), so only its promtool is unpacked.

die() {
	echo "install-deps.sh: $*" >&2
	exit 1
}

missing() {
	for p in $PKGS; do
		s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || s=
		case "$s" in
		*" ok installed") ;;
		*) printf '%s\n' "$p" ;;
		esac
	done
}

case "${1:-}" in
--list)
	printf '%s\n' $PKGS
	exit 0
	;;
--check | "") ;;
*) die "usage: install-deps.sh [--check|--list]" ;;
esac

command -v dpkg-query >/dev/null 2>&1 ||
	die "dpkg-query not found: this script is for Debian 12"

have_promtool() {
	command -v promtool >/dev/null 2>&1
}

todo=$(missing)
if [ -z "$todo" ] && have_promtool; then
	echo "install-deps.sh: all $(printf '%s\n' $PKGS | wc -l) packages present, and promtool"
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "install-deps.sh: missing:" $todo "$(have_promtool || echo promtool)" >&2
	exit 1
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 ||
		die "must run as root to install:" $todo
	SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || die "apt-get update failed"
if [ -n "$todo" ]; then
	echo "install-deps.sh: installing:" $todo
	$SUDO apt-get install -y -q --no-install-recommends $todo ||
		die "apt-get install failed"
fi
if ! have_promtool; then
	echo "install-deps.sh: installing promtool (from the prometheus package)"
	tmp=$(mktemp -d)
	(cd "$tmp" && $SUDO apt-get download -q prometheus) ||
		die "apt-get download prometheus failed"
	dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb |
		tar -xO ./usr/bin/promtool >"$tmp/promtool" ||
		die "no promtool in the prometheus package"
	$SUDO install -m 0755 "$tmp/promtool" /usr/local/bin/promtool
	$SUDO rm -rf "$tmp"
fi

todo=$(missing)
[ -z "$todo" ] || die "still missing after install:" $todo
have_promtool || die "promtool still missing"
echo "install-deps.sh: done"
