# SAGE_SANITIZERS: --enable-sanitizers=LIST, LIST a comma list of
# address, undefined, thread, leak (or "yes" for address,undefined).
# Sets SANITIZER_CFLAGS (compile and link) and SANITIZER_NAMES.
AC_DEFUN([SAGE_SANITIZERS], [
  AC_ARG_ENABLE([sanitizers],
    [AS_HELP_STRING([--enable-sanitizers=LIST],
      [build with sanitizers: address,undefined | thread | leak])],
    [], [enable_sanitizers=no])
  AS_CASE([$enable_sanitizers], [yes], [enable_sanitizers=address,undefined])
  SANITIZER_CFLAGS=""
  SANITIZER_NAMES=""
  AS_IF([test "x$enable_sanitizers" != xno], [
    sage_list=`echo "$enable_sanitizers" | tr ',' ' '`
    AS_CASE([" $sage_list "], [*" thread "*" address "*|*" address "*" thread "*],
            [AC_MSG_ERROR([thread and address sanitizers cannot be combined])])
    for s in $sage_list; do
      AS_CASE([$s], [address|undefined|thread|leak], [],
              [AC_MSG_ERROR([unknown sanitizer: $s])])
      flag="-fsanitize=$s"
      SAGE_CHECK_CFLAG([$flag], [SANITIZER_CFLAGS="$SANITIZER_CFLAGS $flag"],
                       [AC_MSG_ERROR([$CC does not support $flag])])
    done
    SANITIZER_CFLAGS="$SANITIZER_CFLAGS -fno-omit-frame-pointer -g"
    AS_CASE([" $sage_list "], [*" undefined "*],
            [SANITIZER_CFLAGS="$SANITIZER_CFLAGS -fno-sanitize-recover=undefined"])
    SANITIZER_NAMES=$enable_sanitizers
  ])
  AC_SUBST([SANITIZER_CFLAGS])
  AC_SUBST([SANITIZER_NAMES])
  AM_CONDITIONAL([SANITIZE_THREAD], [echo ",$enable_sanitizers," | grep -q ',thread,'])
  AM_CONDITIONAL([SANITIZE_ADDRESS], [echo ",$enable_sanitizers," | grep -q ',address,'])
])

# SAGE_FUZZING: --enable-fuzzing builds libFuzzer harnesses (needs clang).
AC_DEFUN([SAGE_FUZZING], [
  AC_ARG_ENABLE([fuzzing],
    [AS_HELP_STRING([--enable-fuzzing], [build libFuzzer harnesses (clang)])],
    [], [enable_fuzzing=no])
  AS_IF([test "x$enable_fuzzing" = xyes], [
    SAGE_CHECK_CFLAG([-fsanitize=fuzzer-no-link], [],
      [AC_MSG_ERROR([--enable-fuzzing needs a compiler with libFuzzer (CC=clang)])])
  ])
  AM_CONDITIONAL([ENABLE_FUZZING], [test "x$enable_fuzzing" = xyes])
])
