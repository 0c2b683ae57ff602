consul = "127.0.0.1:8500"

# a typo on line 7, column 3
template {
  source = "/etc/hosts.ctmpl"

  destinaton = "/etc/hosts"
}
