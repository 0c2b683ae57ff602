# packaging/install.cmake: install rules for everything the package ships
# besides the binary (installed by the top-level CMakeLists.txt).
# Include it after include(GNUInstallDirs):
#
#     include(packaging/install.cmake)
#
# Paths in the unit and the default config are the /usr, /etc ones; they
# are rewritten here for the actual install dirs, so a /usr/local install
# gets a unit and a config that point at /usr/local/sbin and
# /usr/local/etc. The RPM spec passes -DSYSTEMD_UNITDIR=%{_unitdir}.

set(SYSTEMD_UNITDIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
    CACHE PATH "Directory for the systemd unit")

set(CH_PKG_DIR "${PROJECT_SOURCE_DIR}/packaging")
set(CH_PKG_OUT "${PROJECT_BINARY_DIR}/packaging")
set(CH_CONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/consul-hosts")

# Copy src to dst with the packaged paths replaced by the configured ones.
function(ch_install_rewrite src dst)
  file(READ "${src}" text)
  string(REPLACE "/usr/sbin/consul-hosts"
         "${CMAKE_INSTALL_FULL_SBINDIR}/consul-hosts" text "${text}")
  string(REPLACE "/etc/consul-hosts" "${CH_CONFDIR}" text "${text}")
  string(REPLACE "/etc/sysconfig/consul-hosts"
         "${CMAKE_INSTALL_FULL_SYSCONFDIR}/sysconfig/consul-hosts"
         text "${text}")
  file(WRITE "${dst}" "${text}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${src}")
endfunction()

ch_install_rewrite("${CH_PKG_DIR}/systemd/consul-hosts.service"
                   "${CH_PKG_OUT}/consul-hosts.service")
# EL8's systemd 239 lacks some of the unit's directives: the spec turns
# this on there (packaging/systemd/unit-el8.cmake).
option(SYSTEMD_EL8 "Comment out the unit directives EL8's systemd lacks" OFF)
if(SYSTEMD_EL8)
  include("${CH_PKG_DIR}/systemd/unit-el8.cmake")
  ch_unit_el8("${CH_PKG_OUT}/consul-hosts.service"
              "${CH_PKG_OUT}/consul-hosts.service")
endif()
ch_install_rewrite("${CH_PKG_DIR}/consul-hosts.hcl"
                   "${CH_PKG_OUT}/config.hcl")

install(FILES "${CH_PKG_OUT}/consul-hosts.service"
        DESTINATION "${SYSTEMD_UNITDIR}")
install(FILES "${CH_PKG_OUT}/config.hcl" "${PROJECT_SOURCE_DIR}/templates/hosts.ctmpl"
        DESTINATION "${CH_CONFDIR}")
install(FILES "${CH_PKG_DIR}/systemd/consul-hosts.sysconfig"
        DESTINATION "${CMAKE_INSTALL_FULL_SYSCONFDIR}/sysconfig"
        RENAME consul-hosts
        PERMISSIONS OWNER_READ OWNER_WRITE)
install(FILES "${PROJECT_SOURCE_DIR}/cmd/consul-hosts/consul-hosts.8"
        DESTINATION "${CMAKE_INSTALL_MANDIR}/man8")
# The directory for the dnsmasq hostsdir alternative (see config.hcl).
install(DIRECTORY DESTINATION
        "${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/consul-hosts/hosts.d")

set(CH_DOCS "${PROJECT_SOURCE_DIR}/LICENSE"
    "${CH_PKG_DIR}/systemd/hostsdir.conf")
# Examples: unit drop-ins (*.conf: the usual dnsmasq commands, a remote
# Consul agent, node_exporter's textfile directory) and configs, one
# directory each (config.hcl, and dnsmasq.conf where dnsmasq needs one).
install(DIRECTORY "${CH_PKG_DIR}/examples/"
        DESTINATION "${CMAKE_INSTALL_DOCDIR}/examples")
install(FILES "${CH_PKG_DIR}/CHANGELOG.md" DESTINATION "${CMAKE_INSTALL_DOCDIR}")
# The SELinux file context of the hostsdir directory (a CIL module the
# RPM's %post loads with semodule).
install(FILES "${CH_PKG_DIR}/selinux/consul-hosts.cil"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/selinux/packages")
if(EXISTS "${PROJECT_SOURCE_DIR}/README.md")
  list(APPEND CH_DOCS "${PROJECT_SOURCE_DIR}/README.md")
endif()
install(FILES ${CH_DOCS} DESTINATION "${CMAKE_INSTALL_DOCDIR}")
