# A Consul agent on another host, over HTTPS with a client certificate and
# an ACL token read from a file (never logged). Under the packaged unit,
# add the remote-consul.conf drop-in with the agent's addresses
# (IPAddressAllow=). The token needs node:read and service:read (and
# agent:read for the default ordering seed, else the hostname is used).

consul {
  address    = "https://consul.example.internal:8501"
  token_file = "/etc/consul-hosts/token"

  ssl {
    ca_cert     = "/etc/consul-hosts/tls/ca.pem"
    cert        = "/etc/consul-hosts/tls/client.pem"
    key         = "/etc/consul-hosts/tls/client-key.pem"
    server_name = "consul.example.internal"
  }
}

# Stale reads spread the load over every server (the default, 2s).
max_stale = "2s"

template {
  source        = "/etc/consul-hosts/hosts.ctmpl"
  destination   = "/etc/hosts"
  managed_block = true
  command       = "if systemctl -q is-active dnsmasq.service; then systemctl kill --kill-who=main --signal=HUP dnsmasq.service; fi"
}
