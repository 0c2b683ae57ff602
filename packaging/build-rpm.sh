#!/usr/bin/env bash
# build-rpm.sh: build the consul-hosts source and binary RPMs from the git
# tree and check them. Run from anywhere: `bash packaging/build-rpm.sh`.
#
#   --worktree   package the working tree's tracked files (uncommitted
#                edits included) instead of HEAD
#   --keep       keep the scratch directory (printed) for inspection
#
# Steps, each counted as a check; the last line is "N passed, N failed"
# and the exit status is 1 if any failed:
#   inputs      files the spec needs exist; spec Version == CMake version
#   rpmbuild    -ba (with %check = unit + component tests); no "RPM build warnings"
#   payload     files, modes, owners and config/doc/license flags match
#               tests/packaging/expected-files.txt; Recommends: dnsmasq
#   scriptlets  no unexpanded %macro; preset / try-restart / disable --now
#   rpmlint     0 errors, 0 warnings with packaging/rpm/consul-hosts.rpmlintrc
#   install     rpm -i into a scratch root: modes on disk, rpm -qc, -qd,
#               -qL, -V; scriptlets run under a stub systemctl (install,
#               reinstall keeping an edited config, erase saving .rpmsave)
#   docs        every /etc/consul-hosts/... and /usr/share/doc/consul-hosts/...
#               path the man page and README name is in the payload
#   selinux     the hostsdir directory's file context (packaging/selinux/
#               consul-hosts.cil) is in the payload, compiles with secilc
#               against tests/packaging/selinux-base-stub.cil, and labels
#               hosts.d and its files, and nothing else, dnsmasq_etc_t;
#               %post loads it with semodule, %postun removes it
#   unit        systemd-analyze verify prints nothing (unit alone and with
#               each drop-in: hostsdir.conf and examples/*.conf); security
#               --offline below 2.0 for each; the EL8 unit
#               (packaging/systemd/unit-el8.cmake) uses only directives
#               EL8's systemd 239 knows (tests/packaging/
#               el8-systemd-directives.txt), and a drop-in example's
#               directive that 239 lacks is flagged "EL8" in the comment
#               just above it
#   config      the installed binary prints the spec's version (-v),
#               accepts the installed config.hcl and
#               its commented hostsdir alternative (-parse-only), and
#               tests/packaging/test_default_config.py renders with them
#               against the Consul simulator (loopback)
#
# On Debian (rpm without %cmake) it loads packaging/rpm/macros.debian-fallback
# and passes --nodeps (BuildRequires are checked against an empty rpmdb).
# Such an RPM checks the packaging; it is not a release artifact for EL:
# it requires libcurl.so.4(CURL_OPENSSL_4) and glibc 2.34+, which EL's
# libcurl and EL8 lack. Build release RPMs on an EL/Fedora host with this
# same script (there it uses the real macros and no --nodeps).
#
# The RPMs are copied to build-rpm/ (or $BUILD_RPM_DIR); everything else
# lives in a temporary directory removed on exit.
set -euo pipefail

NAME=consul-hosts
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${BUILD_RPM_DIR:-$ROOT/build-rpm}
SPEC=$ROOT/packaging/rpm/$NAME.spec
FALLBACK=$ROOT/packaging/rpm/macros.debian-fallback
LINTRC=$ROOT/packaging/rpm/$NAME.rpmlintrc
EXPECTED=$ROOT/tests/packaging/expected-files.txt
WORKTREE=0
KEEP=0

for a in "$@"; do
	case $a in
	--worktree) WORKTREE=1 ;;
	--keep) KEEP=1 ;;
	*)
		echo "usage: build-rpm.sh [--worktree] [--keep]" >&2
		exit 2
		;;
	esac
done

T0=$SECONDS
PASSED=0
FAILED=0
FAILURES=()

WORK=$(mktemp -d "${TMPDIR:-/tmp}/$NAME-rpm.XXXXXX")
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ "$KEEP" = 1 ]; then
		echo "build-rpm: kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

say() { printf 'build-rpm: %s\n' "$*"; }
pass() {
	PASSED=$((PASSED + 1))
	printf 'PASS %s\n' "$1"
}
fail() {
	FAILED=$((FAILED + 1))
	FAILURES+=("$1")
	printf 'FAIL %s: %s\n' "$1" "$2"
}
finish() {
	say "$(printf '%s' "${FAILURES[*]:+failed: ${FAILURES[*]}; }")took $((SECONDS - T0))s; RPMs in $OUT"
	printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
	if [ "$FAILED" -eq 0 ]; then exit 0; fi
	exit 1
}

# ---- inputs ---------------------------------------------------------------
# What will be packaged: HEAD, or the working tree's tracked files.
src_has() {
	if [ "$WORKTREE" = 1 ]; then
		git -C "$ROOT" ls-files --error-unmatch -- "$1" >/dev/null 2>&1 &&
			[ -f "$ROOT/$1" ]
	else
		git -C "$ROOT" cat-file -e "HEAD:$1" 2>/dev/null
	fi
}
src_cat() {
	if [ "$WORKTREE" = 1 ]; then
		cat "$ROOT/$1"
	else
		git -C "$ROOT" show "HEAD:$1"
	fi
}

check_inputs() {
	local missing=() t tools_hint=""
	for t in rpm rpmbuild rpmspec rpmlint rpm2cpio cpio secilc systemd-analyze git cmake; do
		command -v "$t" >/dev/null 2>&1 || missing+=("tool:$t")
	done
	[ ${#missing[@]} -eq 0 ] || tools_hint=" (packaging/install-deps.sh installs the tools)"
	for t in packaging/rpm/$NAME.spec packaging/rpm/macros.debian-fallback \
		packaging/rpm/$NAME.rpmlintrc tests/packaging/expected-files.txt \
		tests/packaging/test_default_config.py LICENSE README.md cmd/$NAME/$NAME.8 templates/hosts.ctmpl \
		packaging/$NAME.hcl packaging/install.cmake \
		packaging/systemd/$NAME.service packaging/systemd/$NAME.sysconfig \
		packaging/systemd/hostsdir.conf packaging/systemd/unit-el8.cmake \
		packaging/examples/remote-consul.conf \
		packaging/examples/dnsmasq-systemctl.conf \
		packaging/examples/dnsmasq-pidfile.conf \
		packaging/examples/dnsmasq-pkill.conf \
		packaging/examples/node-exporter-textfile.conf \
		packaging/CHANGELOG.md packaging/selinux/$NAME.cil \
		tests/packaging/selinux-base-stub.cil \
		tests/packaging/el8-systemd-directives.txt; do
		src_has "$t" || missing+=("$t")
	done
	grep -Eq '^[[:space:]]*include\((\$\{PROJECT_SOURCE_DIR\}/)?packaging/install\.cmake\)' \
		<<<"$(src_cat CMakeLists.txt)" ||
		missing+=("CMakeLists.txt: include(packaging/install.cmake)")
	if [ ${#missing[@]} -gt 0 ]; then
		fail inputs "missing from $([ "$WORKTREE" = 1 ] && echo 'the tracked files' || echo HEAD): ${missing[*]}${tools_hint}"
		return 1
	fi
	# Use the packaging files of what is packaged, not of the checkout.
	for t in SPEC FALLBACK LINTRC EXPECTED; do
		src_cat "${!t#"$ROOT"/}" >"$WORK/$(basename "${!t}")"
		printf -v "$t" '%s' "$WORK/$(basename "${!t}")"
	done
	CMAKE_VERSION=$(src_cat CMakeLists.txt | sed -n 's/^project([^)]*VERSION \([0-9.]*\).*/\1/p')
	VERSION=$(rpmspec -q --srpm --qf '%{version}' "$SPEC" 2>/dev/null)
	if [ -z "$CMAKE_VERSION" ] || [ "$VERSION" != "$CMAKE_VERSION" ]; then
		fail inputs "spec Version '$VERSION' != CMake project VERSION '$CMAKE_VERSION'"
		return 1
	fi
	pass "inputs (version $VERSION)"
}

# ---- source tarball and rpmbuild -------------------------------------------
build() {
	local top=$WORK/rpmbuild prefix=$NAME-$VERSION/ log=$WORK/rpmbuild.log
	local -a args=(-ba --define "_topdir $top")
	mkdir -p "$top/SOURCES"
	if [ "$WORKTREE" = 1 ]; then
		(cd "$ROOT" && git ls-files -z | tar --null -T - \
			--transform "s|^|$prefix|" -czf "$top/SOURCES/$NAME-$VERSION.tar.gz")
	else
		git -C "$ROOT" archive --format=tar.gz --prefix="$prefix" \
			-o "$top/SOURCES/$NAME-$VERSION.tar.gz" HEAD
	fi
	if [ -z "$(rpm --eval '%{?cmake:1}')" ]; then
		say "no %cmake in this rpm (Debian): fallback macros, --nodeps, dist .el9"
		args+=(--nodeps --load="$FALLBACK" --define "dist .el9")
	fi
	if ! rpmbuild "${args[@]}" "$SPEC" >"$log" 2>&1; then
		tail -n 40 "$log"
		fail rpmbuild "rpmbuild failed (log above)"
		return 1
	fi
	if grep -q '^RPM build warnings:' "$log"; then
		sed -n '/^RPM build warnings:/,$p' "$log"
		fail rpmbuild "rpmbuild warned"
		return 1
	fi
	RPM=$(ls "$top/RPMS/"*/"$NAME-$VERSION-"*.rpm)
	SRPM=$(ls "$top/SRPMS/$NAME-$VERSION-"*.src.rpm)
	mkdir -p "$OUT"
	cp "$RPM" "$SRPM" "$OUT/"
	pass "rpmbuild ($(basename "$RPM"), $(basename "$SRPM"); $(grep -c '^ *[0-9]*/[0-9]* Test' "$log") unit and component tests in %check)"
}

# ---- payload ----------------------------------------------------------------
check_payload() {
	local got=$WORK/payload.txt want=$WORK/expected.txt bad=0
	# "F" marks the flags column, which is empty for plain files.
	rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} F%{FILEFLAGS:fflags} %{FILENAMES}\n]' \
		"$RPM" | sed 's/ F / - /; s/ F\([a-z]*\) / \1 /' |
		grep -v ' /usr/lib/\.build-id' | sort -k4 >"$got"
	grep -v '^#' "$EXPECTED" | sort -k4 >"$want"
	if ! diff -u "$want" "$got"; then
		fail payload "payload differs from tests/packaging/expected-files.txt (- expected, + built)"
		bad=1
	fi
	if ! grep -qx 'dnsmasq' <<<"$(rpm -qp --recommends "$RPM")"; then
		fail payload "no Recommends: dnsmasq"
		bad=1
	fi
	[ "$bad" = 1 ] || pass "payload ($(wc -l <"$want") files, modes and flags)"
}

# ---- docs -------------------------------------------------------------------
# The files the man page and README tell an operator to look at must ship
# (the man page once named hosts.tmpl; the package ships hosts.ctmpl).
check_docs() {
	local names bad=0 p payload
	payload=$(rpm -qpl "$RPM")
	names=$( {
		src_cat cmd/$NAME/$NAME.8 | sed 's/\\-/-/g'
		src_cat README.md
	} | grep -oE "/(etc|usr/share/doc)/$NAME/[A-Za-z0-9._/-]*[A-Za-z0-9_]" | sort -u)
	for p in $names; do
		grep -qx -- "$p" <<<"$payload" || {
			fail docs "$p is named in the man page or README but not shipped"
			bad=1
		}
	done
	[ "$bad" = 1 ] || pass "docs ($(wc -w <<<"$names") packaged paths named in the man page and README all ship)"
}

# ---- SELinux ------------------------------------------------------------------
check_selinux() {
	local d=$WORK/selinux cil out fc want bad=0 p s
	cil=./usr/share/selinux/packages/$NAME.cil
	want='/var/lib/consul-hosts/hosts\.d(/.*)?	system_u:object_r:dnsmasq_etc_t:s0'
	mkdir -p "$d/root"
	(cd "$d/root" && rpm2cpio "$RPM" | cpio -idm --quiet "$cil") || true
	if [ ! -s "$d/root/$cil" ]; then
		fail selinux "${cil#.} is not in the payload"
		return 1
	fi
	src_cat tests/packaging/selinux-base-stub.cil >"$d/base.cil"
	if ! out=$(cd "$d" && secilc -o policy.bin -f file_contexts base.cil \
		"root/$cil" 2>&1); then
		printf '%s\n' "$out"
		fail selinux "secilc does not compile ${cil#.}"
		return 1
	fi
	fc=$(cat "$d/file_contexts")
	if [ "$fc" != "$want" ]; then
		fail selinux "file contexts: '$fc', want '$want'"
		bad=1
	fi
	# The regular expression, anchored as file_contexts are.
	for p in /var/lib/consul-hosts/hosts.d /var/lib/consul-hosts/hosts.d/consul.hosts \
		/var/lib/consul-hosts/hosts.d/.consul.hosts.consul-hosts.AbC123; do
		grep -Eqx -- "${fc%%	*}" <<<"$p" || {
			fail selinux "the file context does not match $p"
			bad=1
		}
	done
	for p in /var/lib/consul-hosts /var/lib/consul-hosts/other /var/lib/consul-hosts/hosts.dx; do
		if grep -Eqx -- "${fc%%	*}" <<<"$p"; then
			fail selinux "the file context matches $p"
			bad=1
		fi
	done
	s=$(rpm -qp --scripts "$RPM")
	grep -q "semodule -i /usr/share/selinux/packages/$NAME.cil" <<<"$s" &&
		grep -q "semodule -r $NAME" <<<"$s" &&
		grep -q "restorecon -R /var/lib/$NAME" <<<"$s" || {
		fail selinux "the scriptlets do not load (semodule -i), apply (restorecon) and remove (semodule -r) the module"
		bad=1
	}
	[ "$bad" = 1 ] || pass "selinux (${cil#.} compiles with secilc; hosts.d and its files dnsmasq_etc_t, nothing else; loaded by %post, removed by %postun)"
}

check_scriptlets() {
	local s=$WORK/scripts.txt bad=0 want
	rpm -qp --scripts "$RPM" >"$s"
	if grep -nE '%[{a-z_]' "$s"; then
		fail scriptlets "unexpanded macro in a scriptlet (above)"
		bad=1
	fi
	for want in "preset $NAME.service" "try-restart $NAME.service" \
		"disable --now $NAME.service"; do
		grep -q -- "$want" "$s" || {
			fail scriptlets "no '$want' in the scriptlets"
			bad=1
		}
	done
	[ "$bad" = 1 ] || pass "scriptlets (expanded; preset, try-restart, disable --now)"
}

check_rpmlint() {
	local log=$WORK/rpmlint.log rc=0 summary
	rpmlint -c "$LINTRC" "$SPEC" "$RPM" "$SRPM" >"$log" 2>&1 || rc=$?
	summary=$(grep -E '[0-9]+ errors?, [0-9]+ warnings?' "$log" | tail -n 1 |
		sed 's/^ *//; s/, [0-9]* badness.*//')
	if [ "$rc" -ne 0 ] || ! grep -qE ' 0 errors, 0 warnings' <<<"$summary"; then
		cat "$log"
		fail rpmlint "rpmlint: ${summary:-exit $rc}"
		return 1
	fi
	pass "rpmlint ($summary)"
}

# ---- scratch-root install ---------------------------------------------------
# A root where rpm can run the scriptlets: the host's /bin/sh (dash) and
# its libraries, /dev/null, and a systemctl stub that logs its arguments.
make_root() {
	local r=$1 lib
	mkdir -p "$r"/{bin,dev,etc,tmp,usr/bin,var/lib/rpm}
	cp "$(readlink -f /bin/sh)" "$r/bin/sh"
	for lib in $(ldd "$(readlink -f /bin/sh)" | grep -o '/[^ ]*'); do
		mkdir -p "$r$(dirname "$lib")"
		cp -L "$lib" "$r$lib"
	done
	mknod -m 666 "$r/dev/null" c 1 3
	cat >"$r/usr/bin/systemctl" <<'EOF'
#!/bin/sh
echo "systemctl $*" >>/systemctl.log
EOF
	chmod 755 "$r/usr/bin/systemctl"
	: >"$r/systemctl.log"
}

check_install() {
	local r=$WORK/root bad=0 f mode own path want got
	local -a rpmq=(rpm --root "$r" --dbpath /var/lib/rpm)
	local -a rpmr=("${rpmq[@]}" --nodeps)
	if [ "$(id -u)" -ne 0 ]; then
		fail install "needs root (chroot for the scriptlets)"
		return 1
	fi
	grep -q -- --force-debian <<<"$(rpm --help 2>&1)" && rpmr+=(--force-debian)
	make_root "$r"
	"${rpmr[@]}" -i "$RPM" || {
		fail install "rpm -i failed"
		return 1
	}
	# Modes and owners on disk.
	while read -r mode own _ path; do
		case $mode in '#'* | '') continue ;; esac
		got=$(stat -c '%A %U:%G' "$r$path" 2>/dev/null || echo missing)
		[ "$got" = "$mode $own" ] || {
			fail install "$path is '$got', want '$mode $own'"
			bad=1
		}
	done <"$EXPECTED"
	# Config, doc and license markings as rpm reports them.
	want=$(awk '!/^#/ && $3 ~ /c/ { print $4 }' "$EXPECTED" | sort)
	got=$("${rpmq[@]}" -qc "$NAME" | sort)
	[ "$want" = "$got" ] || {
		fail install "rpm -qc: ${got//$'\n'/ }"
		bad=1
	}
	# Captured first: grep -q closing the pipe early fails it (pipefail).
	got=$("${rpmq[@]}" -qd "$NAME")
	for f in /usr/share/man/man8/$NAME.8.gz /usr/share/doc/$NAME/README.md \
		/usr/share/doc/$NAME/hostsdir.conf \
		/usr/share/doc/$NAME/examples/remote-consul.conf; do
		grep -qx "$f" <<<"$got" || {
			fail install "rpm -qd lacks $f"
			bad=1
		}
	done
	got=$("${rpmq[@]}" -qL "$NAME")
	grep -qx "/usr/share/licenses/$NAME/LICENSE" <<<"$got" || {
		fail install "rpm -qL lacks the LICENSE"
		bad=1
	}
	"${rpmr[@]}" -V "$NAME" || {
		fail install "rpm -V found differences"
		bad=1
	}
	grep -qx "systemctl --no-reload preset $NAME.service" "$r/systemctl.log" || {
		fail install "install did not run 'systemctl --no-reload preset'"
		bad=1
	}
	# Upgrade path (same package again): the edited config is kept and the
	# service is try-restarted.
	echo '# local edit' >>"$r/etc/$NAME/config.hcl"
	: >"$r/systemctl.log"
	"${rpmr[@]}" -U --replacepkgs "$RPM" || {
		fail install "rpm -U --replacepkgs failed"
		bad=1
	}
	grep -q '^# local edit$' "$r/etc/$NAME/config.hcl" || {
		fail install "reinstall lost the edited config.hcl"
		bad=1
	}
	grep -qx "systemctl try-restart $NAME.service" "$r/systemctl.log" || {
		fail install "upgrade did not run 'systemctl try-restart': $(cat "$r/systemctl.log")"
		bad=1
	}
	# Keep the installed tree for the unit and config checks.
	cp -a "$r" "$WORK/installed"
	: >"$r/systemctl.log"
	"${rpmr[@]}" -e "$NAME" 2>"$WORK/erase.log" || {
		fail install "rpm -e failed: $(cat "$WORK/erase.log")"
		bad=1
	}
	grep -qx "systemctl --no-reload disable --now $NAME.service" "$r/systemctl.log" || {
		fail install "erase did not run 'systemctl disable --now'"
		bad=1
	}
	if [ ! -f "$r/etc/$NAME/config.hcl.rpmsave" ] || [ -e "$r/usr/sbin/$NAME" ]; then
		fail install "erase: no config.hcl.rpmsave, or files left behind"
		bad=1
	fi
	[ "$bad" = 1 ] || pass "install (modes, -qc/-qd/-qL, -V; preset, try-restart keeping an edited config, disable --now + .rpmsave)"
}

# ---- the unit -----------------------------------------------------------------
# The [Section] Name= directives of a unit or drop-in, one "Section.Name"
# a line; with "flagged", only those whose comment block just above does
# not mention EL8.
unit_directives() {
	awk -v flagged="${2:-}" '
		/^\[/ { sec = substr($0, 2, length($0) - 2); el8 = 0; next }
		/^#/ { if ($0 ~ /EL8/) el8 = 1; next }
		/^[A-Za-z]+=/ {
			if (!(flagged != "" && el8)) print sec "." substr($0, 1, index($0, "=") - 1)
			el8 = 0; next
		}
		{ el8 = 0 }' "$1" | sort -u
}

check_unit() {
	local r=$WORK/installed u=$WORK/units bad=0 out score d scores="" known el8 unknown
	mkdir -p "$u/$NAME.service.d"
	# verify wants an executable ExecStart: point it at a stub.
	printf '#!/bin/sh\nexit 0\n' >"$WORK/stub"
	chmod 755 "$WORK/stub"
	sed "s#/usr/sbin/$NAME#$WORK/stub#" "$r/usr/lib/systemd/system/$NAME.service" \
		>"$u/$NAME.service"
	out=$(cd "$WORK" && systemd-analyze verify --man=no "$u/$NAME.service" 2>&1) || true
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		fail unit "systemd-analyze verify printed something"
		bad=1
	fi
	out=$(systemd-analyze security --offline=true --threshold=20 "$u/$NAME.service" 2>&1) || {
		printf '%s\n' "$out" | grep -v '✓'
		fail unit "exposure above 2.0"
		bad=1
	}
	score=$(printf '%s\n' "$out" | grep -o 'Overall exposure level.*' | sed 's/.*: //; s/ .*//')
	# Each shipped drop-in on top of it, alone.
	for d in "$r/usr/share/doc/$NAME/hostsdir.conf" "$r/usr/share/doc/$NAME/examples/"*.conf; do
		rm -f "$u/$NAME.service.d/"*
		cp "$d" "$u/$NAME.service.d/"
		out=$(cd "$WORK" && SYSTEMD_UNIT_PATH="$u:" \
			systemd-analyze verify --man=no "$NAME.service" 2>&1) || true
		if [ -n "$out" ]; then
			printf '%s\n' "$out"
			fail unit "systemd-analyze verify with $(basename "$d") printed something"
			bad=1
		fi
		out=$(cd "$WORK" && SYSTEMD_UNIT_PATH="$u:" systemd-analyze security \
			--offline=true --threshold=20 "$NAME.service" 2>&1) || {
			fail unit "exposure above 2.0 with $(basename "$d")"
			bad=1
		}
		scores+=" $(basename "$d" .conf) $(printf '%s\n' "$out" | grep -o 'Overall exposure level.*' | sed 's/.*: //; s/ .*//')"
	done
	rm -f "$u/$NAME.service.d/"*
	# EL8: the unit its RPM gets, against what systemd 239 knows there.
	known=$WORK/el8-known.txt
	src_cat tests/packaging/el8-systemd-directives.txt | grep -v '^#' | sort -u >"$known"
	src_cat packaging/systemd/unit-el8.cmake >"$WORK/unit-el8.cmake"
	el8=$WORK/el8.service
	cmake -DIN="$r/usr/lib/systemd/system/$NAME.service" -DOUT="$el8" \
		-P "$WORK/unit-el8.cmake"
	unknown=$(unit_directives "$el8" | comm -23 - "$known")
	if [ -n "$unknown" ]; then
		fail unit "EL8's systemd 239 does not know: ${unknown//$'\n'/ }"
		bad=1
	fi
	sed "s#/usr/sbin/$NAME#$WORK/stub#" "$el8" >"$u/$NAME.service"
	out=$(cd "$WORK" && systemd-analyze verify --man=no "$u/$NAME.service" 2>&1) || true
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		fail unit "systemd-analyze verify of the EL8 unit printed something"
		bad=1
	fi
	for d in "$r/usr/share/doc/$NAME/hostsdir.conf" "$r/usr/share/doc/$NAME/examples/"*.conf; do
		unknown=$(unit_directives "$d" flagged | comm -23 - "$known")
		if [ -n "$unknown" ]; then
			fail unit "$(basename "$d"): ${unknown//$'\n'/ } unknown to EL8's systemd 239, and no comment above says so"
			bad=1
		fi
	done
	[ "$bad" = 1 ] || pass "unit (verify clean, with each drop-in too; exposure $score;$scores; EL8 unit: directives all known to 239)"
}

# ---- the default config --------------------------------------------------------
check_config() {
	local r=$WORK/installed bin cfg alt out
	bin=$r/usr/sbin/$NAME
	out=$("$bin" -v 2>&1) || true
	if [ "$out" != "$NAME $VERSION" ]; then
		fail config "$bin -v printed '$out', want '$NAME $VERSION'"
		return 1
	fi
	# Point the config at the installed template, not the host's /etc.
	cfg=$WORK/config.hcl
	sed "s#/etc/$NAME/#$r/etc/$NAME/#g" "$r/etc/$NAME/config.hcl" >"$cfg"
	# The commented hostsdir alternative, uncommented, as its own config.
	alt=$WORK/hostsdir.hcl
	sed -n '/^# template {/,/^# }/s/^# \{0,1\}//p' "$cfg" >"$alt"
	if ! grep -q 'hosts.d' "$alt"; then
		fail config "no commented hostsdir template block in config.hcl"
		return 1
	fi
	for c in "$cfg" "$alt"; do
		if ! out=$("$bin" -parse-only -config "$c" 2>&1); then
			printf '%s\n' "$out"
			fail config "$bin -parse-only rejects $(basename "$c")"
			return 1
		fi
	done
	# The installed config and template, run against the Consul simulator.
	if ! out=$(CH_BIN=$bin CH_SOURCE_DIR=$ROOT CH_CONFIG=$r/etc/$NAME/config.hcl \
		CH_TEMPLATE=$r/etc/$NAME/hosts.ctmpl timeout 120 \
		python3 "$ROOT/tests/packaging/test_default_config.py" 2>&1); then
		printf '%s\n' "$out"
		fail config "tests/packaging/test_default_config.py failed"
		return 1
	fi
	pass "config (config.hcl and its hostsdir alternative parse; $(grep -o 'Ran [0-9]* tests' <<<"$out") rendering /etc/hosts's block)"
}

say "building $NAME from $([ "$WORKTREE" = 1 ] && echo 'the working tree' || echo "HEAD $(git -C "$ROOT" rev-parse --short HEAD)") in $WORK"
check_inputs || finish
build || finish
check_payload || :
check_docs || :
check_selinux || :
check_scriptlets || :
check_rpmlint || :
if check_install; then
	check_unit || :
	check_config || :
fi
finish
