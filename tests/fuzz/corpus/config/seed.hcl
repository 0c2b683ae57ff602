consul = "127.0.0.1:8500"

template {
  source = "/etc/hosts.ctmpl"
  destination = "/etc/hosts"
  command = "service dnsmasq restart"
}
