# A file of its own for dnsmasq's addn-hosts (dnsmasq.conf beside this
# one): consul-hosts owns the whole file, /etc/hosts stays the node's.
# dnsmasq re-reads addn-hosts files on SIGHUP, which keeps port 53 open.
# The file is in the directory the package makes for dnsmasq
# (/var/lib/consul-hosts/hosts.d, labelled dnsmasq_etc_t under SELinux):
# install the hostsdir.conf drop-in, which lets the unit write there and
# nowhere else.

consul {
  address = "127.0.0.1:8500"
}

template {
  source      = "/etc/consul-hosts/hosts.ctmpl"
  destination = "/var/lib/consul-hosts/hosts.d/consul.hosts"
  perms       = "0644"
  command     = "if systemctl -q is-active dnsmasq.service; then systemctl kill --kill-who=main --signal=HUP dnsmasq.service; fi"
}
