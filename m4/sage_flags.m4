# SAGE_CHECK_CFLAG(FLAG, [ACTION-IF-OK], [ACTION-IF-NOT])
# Compiles and links an empty program with FLAG (and -Werror).
AC_DEFUN([SAGE_CHECK_CFLAG], [
  AS_VAR_PUSHDEF([cache], [sage_cv_cflag_$1])
  AC_CACHE_CHECK([whether $CC accepts $1], [cache], [
    sage_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -Werror $1"
    AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
                   [AS_VAR_SET([cache], [yes])], [AS_VAR_SET([cache], [no])])
    CFLAGS=$sage_save_CFLAGS])
  AS_VAR_IF([cache], [yes], [$2], [$3])
  AS_VAR_POPDEF([cache])
])

# SAGE_PTHREAD: -pthread for compiling and linking, as PTHREAD_CFLAGS.
AC_DEFUN([SAGE_PTHREAD], [
  SAGE_CHECK_CFLAG([-pthread], [PTHREAD_CFLAGS=-pthread],
                   [AC_MSG_ERROR([the compiler must accept -pthread])])
  AC_SUBST([PTHREAD_CFLAGS])
])

# SAGE_WARNINGS: -Wall -Wextra -Werror and a few more, as WARN_CFLAGS.
AC_DEFUN([SAGE_WARNINGS], [
  AC_ARG_ENABLE([werror],
    [AS_HELP_STRING([--disable-werror], [do not turn warnings into errors])],
    [], [enable_werror=yes])
  WARN_CFLAGS=""
  for flag in -Wall -Wextra -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla \
              -Wno-unused-parameter; do
    SAGE_CHECK_CFLAG([$flag], [WARN_CFLAGS="$WARN_CFLAGS $flag"])
  done
  AS_IF([test "x$enable_werror" = xyes], [WARN_CFLAGS="$WARN_CFLAGS -Werror"])
  AC_SUBST([WARN_CFLAGS])
])

# SAGE_VISIBILITY: hide every symbol not marked SAGE_API / SAGE_PLUGIN_EXPORT.
AC_DEFUN([SAGE_VISIBILITY], [
  SAGE_CHECK_CFLAG([-fvisibility=hidden], [VISIBILITY_CFLAGS=-fvisibility=hidden],
                   [AC_MSG_ERROR([the compiler must accept -fvisibility=hidden])])
  AC_SUBST([VISIBILITY_CFLAGS])
])

# SAGE_DEBUG: --enable-debug builds with -O0 -g3 and assertions.
AC_DEFUN([SAGE_DEBUG], [
  AC_ARG_ENABLE([debug],
    [AS_HELP_STRING([--enable-debug], [build with -O0 -g3 and assertions])],
    [], [enable_debug=no])
  AS_IF([test "x$enable_debug" = xyes],
        [DEBUG_CFLAGS="-O0 -g3"],
        [DEBUG_CFLAGS="-DNDEBUG"])
  AC_SUBST([DEBUG_CFLAGS])
])
