template {
  source = "a"
  destination = "/etc/hosts"
	perms = "rw-r--r--"
}
