# /etc/consul-hosts/config.hcl: the default consul-hosts configuration.
# consul-template's HCL syntax; see consul-hosts(8) for every key.
# Check an edit with:  consul-hosts -parse-only -config /etc/consul-hosts/config.hcl
# Apply it with:       systemctl reload consul-hosts
#
# The Consul address and token come from the environment, set in
# /etc/sysconfig/consul-hosts (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN or
# CONSUL_HTTP_TOKEN_FILE, CONSUL_CACERT, ...). A consul { address = ... }
# block here would override the environment, so the default leaves it out;
# without either, the local agent at 127.0.0.1:8500 is used.

log_level = "info"

# Stale reads spread the load over all Consul servers (consul-template's
# default too).
max_stale = "2s"

# Per-node instance order. "stable" (default): rendezvous hashing seeded by
# this node's Consul node name, so each node puts a different instance
# first and the file only changes when the data does. Others: "weighted"
# (Consul Weights), "balanced" (exact fleet-wide spread), "random" (new
# order, and a rewrite plus dnsmasq reload, on every render), "none"
# (sorted, consul-template's order).
order {
  mode = "stable"
}

# Default: manage a block of /etc/hosts. Only the lines between
# "# BEGIN consul-hosts" and "# END consul-hosts" are replaced; the block is
# appended on first run and every other line is kept byte for byte.
template {
  source        = "/etc/consul-hosts/hosts.ctmpl"
  destination   = "/etc/hosts"
  managed_block = true

  # Failover first: every change is written as soon as Consul reports it
  # (no quiescence "wait": a stopped backend or a failed-over master must
  # leave the file in milliseconds; bursts are cheap, the command budget
  # below coalesces them).
  #
  # Guards hold only anomalies, never an ordinary change: a render with no
  # entry from Consul at all (never written), more than "shrink" of the
  # entries removed within 5 s (an agent that lost its state, every check
  # flapping), and removals seen in answers Consul marks as suspect (no
  # known leader, an index gone backwards after a restore). A held entry
  # stays in the block under a "# consul-hosts: held since ..." comment,
  # after the other lines, until a healthy answer confirms the removal or
  # "hold" has passed. Additions are always written at once.
  guard {
    shrink = 0.5
    hold   = "1m"
  }

  # dnsmasq re-reads /etc/hosts on SIGHUP. A SIGHUP keeps port 53 open,
  # where a restart drops queries and counts against systemd's start limit;
  # and EL/Fedora's dnsmasq.service has no ExecReload, so
  # "systemctl try-reload-or-restart dnsmasq" would restart it there.
  # "systemctl kill --kill-who=main" signals only dnsmasq's main process
  # (spelled so for systemd 239 on EL8; 252 also accepts --kill-whom). It
  # is skipped when dnsmasq is not running: it reads /etc/hosts at start.
  command         = "if systemctl -q is-active dnsmasq.service; then systemctl kill --kill-who=main --signal=HUP dnsmasq.service; fi"
  command_timeout = "30s"
  # The command runs at once after a change, never more than 4 times in
  # 10 s (a burst is coalesced into one more run): below systemd's start
  # limit, and a SIGHUP flushes dnsmasq's whole cache.
  command_max_runs = 4
  command_window   = "10s"
}

# Alternative: a dnsmasq hosts directory instead of /etc/hosts.
# consul-hosts then owns a whole file, in a directory only it writes
# (the package creates /var/lib/consul-hosts/hosts.d), and the unit can be
# confined to it with the hostsdir.conf drop-in from
# /usr/share/doc/consul-hosts/. In dnsmasq's configuration add
#     hostsdir=/var/lib/consul-hosts/hosts.d
# dnsmasq >= 2.88 reloads a changed file there by itself (inotify: adds
# and removals, no cache flush), so no command is needed; dnsmasq < 2.88
# (EL8, EL9) sees only additions, so keep the SIGHUP command above. Replace
# the template block above with:
#
# template {
#   source      = "/etc/consul-hosts/hosts.ctmpl"
#   destination = "/var/lib/consul-hosts/hosts.d/consul.hosts"
#   perms       = "0644"
# }
