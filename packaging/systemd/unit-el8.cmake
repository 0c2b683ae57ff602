# packaging/systemd/unit-el8.cmake: the unit for EL8, whose systemd 239
# does not know some of the directives the unit uses ("Unknown lvalue",
# ignored). They are commented out, saying why; what still protects the
# same thing there is in consul-hosts(8), SANDBOX.
#
# Included by packaging/install.cmake (-DSYSTEMD_EL8=ON, which the spec
# passes on EL8), and runnable on its own, as packaging/build-rpm.sh does:
#
#     cmake -DIN=consul-hosts.service -DOUT=el8.service -P unit-el8.cmake
#
# The list: directives newer than 239 that RHEL 8 never backported, per
# tests/packaging/el8-systemd-directives.txt (which build-rpm.sh checks
# the result against).
set(CH_UNIT_NOT_IN_EL8
    ProtectHostname   # systemd 242
    ProtectKernelLogs # 244
    ProtectClock      # 245
    ProtectProc       # 247
    ProcSubset)       # 247

function(ch_unit_el8 in out)
  file(READ "${in}" text)
  foreach(d IN LISTS CH_UNIT_NOT_IN_EL8)
    string(REGEX REPLACE "\n(${d}=[^\n]*)"
           "\n# \\1  (not in EL8's systemd 239)" text "${text}")
  endforeach()
  file(WRITE "${out}" "${text}")
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND DEFINED IN AND DEFINED OUT)
  ch_unit_el8("${IN}" "${OUT}")
endif()
