consul { address = "10.0.0.1:8500" token = "from-a" }
max_stale = "5s"
log_level = "warn"
template {
  source = "a.tmpl"
  destination = "/tmp/a"
}
