# Every option, HCL spelling. full.json says the same in JSON.
consul {
  address    = "https://consul.example:8501"
  token      = "abcd-1234"
  ssl {
    enabled     = true
    verify      = false
    cert        = "/etc/pki/client.pem"
    key         = "/etc/pki/client.key"
    ca_cert     = "/etc/pki/ca.pem"
    ca_path     = "/etc/pki/ca.d"
    server_name = "consul.example"
  }
  retry {
    enabled     = true
    attempts    = 5
    backoff     = "500ms"
    max_backoff = "2m"
  }
}

max_stale        = "10s"    // stale reads
block_query_wait = "5m"
wait {
  min = "2s"
  max = "10s"
}
log_level     = "debug"
pid_file      = "/run/consul-hosts.pid"
kill_signal   = "SIGINT"
reload_signal = "SIGUSR1"

order {
  mode = "weighted"
  seed = "node-7"
}

/* the hosts file */
template {
  source               = "/etc/consul-hosts/hosts.tmpl"
  destination          = "/etc/hosts"
  command              = ["systemctl", "restart", "dnsmasq"]
  command_timeout      = "15s"
  check_command        = "dnsmasq --test --addn-hosts={{path}}"
  perms                = 0644
  user                 = "root"
  group                = 0
  backup               = true
  wait                 = "1s:3s"
  left_delimiter       = "[["
  right_delimiter      = "]]"
  error_on_missing_key = true
  create_dest_dirs     = false
  emit                 = 3
  managed_block        = true
  rollback_on_failure  = true
  in_place             = true
  format               = "text"
  guard {
    enabled      = false
    shrink       = 0.25
    service_drop = true
    hold         = "2m"
  }
  command_max_runs = 2
  command_window   = "30s"
}

template {
  contents = <<-EOT
    {{ range service "web" }}{{ .Address }} web
    {{ end }}
    EOT
  destination = "/etc/hosts.d/web"
  exec {
    command = "pkill -HUP dnsmasq"
    timeout = "5s"
  }
}
