a = <<-EOF
  x
  EOF
b = [1, "\u00e9", {c = 0x1f}]
/* c */ d { e = 1.5e3 }
