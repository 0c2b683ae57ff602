# A dnsmasq hosts directory: dnsmasq >= 2.88 reloads a file changed there
# by itself (inotify), so there is no command and no signal. Use it for
# files under ~2,000 lines (dnsmasq re-reads a large one slowly) and with
# dnsmasq >= 2.88 (older ones, as on EL8 and EL9, see additions only:
# keep the SIGHUP command of addn-hosts there). With the hostsdir.conf
# drop-in the unit may then write only this directory. Under SELinux the
# package labels it dnsmasq_etc_t, which dnsmasq may read and watch.

consul {
  address = "127.0.0.1:8500"
}

template {
  source      = "/etc/consul-hosts/hosts.ctmpl"
  destination = "/var/lib/consul-hosts/hosts.d/consul.hosts"
  perms       = "0644"
}
