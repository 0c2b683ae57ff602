# Managed /etc/hosts: consul-hosts replaces only the block between
# "# BEGIN consul-hosts" and "# END consul-hosts" (appended on the first
# run) and keeps every other line of the node's file byte for byte. A
# dnsmasq that serves /etc/hosts is told with a SIGHUP (never a restart:
# a restart refuses queries while dnsmasq starts again).
#
#   consul-hosts -parse-only -config config.hcl     # check it
#   consul-hosts -once -dry -diff -config config.hcl  # see what would change

consul {
  address = "127.0.0.1:8500"
}

template {
  source        = "/etc/consul-hosts/hosts.ctmpl"
  destination   = "/etc/hosts"
  managed_block = true

  # At once after a change, at most 4 runs in 10 s (bursts coalesced).
  command = "if systemctl -q is-active dnsmasq.service; then systemctl kill --kill-who=main --signal=HUP dnsmasq.service; fi"
}

# Metrics for node_exporter's textfile collector (with the
# node-exporter-textfile.conf drop-in under the packaged unit):
# metrics {
#   textfile = "/var/lib/node_exporter/textfile_collector/consul_hosts.prom"
# }
