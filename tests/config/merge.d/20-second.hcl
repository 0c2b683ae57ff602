log_level = "trace"
template { source = "d2.tmpl"  destination = "/tmp/d2" }
