# The project's one warning list (curl's PickyWarnings, ntpd's Makefile).
# -Werror is off by default and on in CI: cmake -DWERROR=ON.
set(CH_WARNINGS
  -Wall -Wextra -Wpedantic
  -Wshadow -Wpointer-arith -Wcast-qual -Wwrite-strings
  -Wstrict-prototypes -Wmissing-prototypes -Wmissing-declarations
  -Wold-style-definition -Wundef -Wformat=2 -Wformat-security
  -Wvla -Wnull-dereference -Wdouble-promotion -Wimplicit-fallthrough
  -Wno-unused-parameter -Wno-sign-compare)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  list(APPEND CH_WARNINGS -Wlogical-op -Wduplicated-cond -Wjump-misses-init)
endif()
if(WERROR)
  list(APPEND CH_WARNINGS -Werror)
endif()
