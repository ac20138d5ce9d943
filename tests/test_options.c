/* The key/value option parser shared by in-tree transports. */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "options.h"

struct parsed {
  uint64_t capacity, flag, mode, kind;
};

static const char *const kinds[] = {"auto", "always", "never", NULL};
static const struct sage_opt_spec specs[] = {
    {"capacity", SAGE_OPT_SIZE, offsetof(struct parsed, capacity), 64,
     1ull << 32, NULL},
    {"flag", SAGE_OPT_BOOL, offsetof(struct parsed, flag), 0, 0, NULL},
    {"mode", SAGE_OPT_MODE, offsetof(struct parsed, mode), 0, 0, NULL},
    {"kind", SAGE_OPT_ENUM, offsetof(struct parsed, kind), 0, 0, kinds},
};
#define NSPECS (sizeof specs / sizeof specs[0])

static int parse(const char *const *opts, struct parsed *p, char *why) {
  memset(p, 0, sizeof *p);
  return sage_opts_parse(opts, specs, NSPECS, p, why, 256);
}

Test(options, all_types) {
  const char *opts[] = {"capacity", "64K",  "flag",  "yes", "mode",
                        "0640",     "kind", "never", NULL};
  struct parsed p;
  char why[256];
  cr_assert_eq(parse(opts, &p, why), 0, "%s", why);
  cr_assert_eq(p.capacity, 65536);
  cr_assert_eq(p.flag, 1);
  cr_assert_eq(p.mode, 0640);
  cr_assert_eq(p.kind, 2);
}

Test(options, sizes) {
  uint64_t v;
  cr_assert_eq(sage_opts_parse_size("1M", &v), 0);
  cr_assert_eq(v, 1 << 20);
  cr_assert_eq(sage_opts_parse_size("2GiB", &v), 0);
  cr_assert_eq(v, 2ull << 30);
  cr_assert_eq(sage_opts_parse_size("4kb", &v), 0);
  cr_assert_eq(v, 4096);
  const char *bad[] = {
      "",  "-1", "1.5M", "12Q", "M", "99999999999999999999", "17179869184G",
      " 4"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_assert_eq(sage_opts_parse_size(bad[i], &v), -EINVAL, "'%s'", bad[i]);
}

Test(options, none_and_empty) {
  struct parsed p;
  char why[256];
  cr_assert_eq(parse(NULL, &p, why), 0);
  const char *empty[] = {NULL};
  cr_assert_eq(parse(empty, &p, why), 0);
}

static void expect_error(const char *const *opts, const char *needle) {
  struct parsed p;
  char why[256] = "";
  cr_assert_eq(parse(opts, &p, why), -EINVAL);
  cr_assert(strstr(why, needle) != NULL, "'%s' lacks '%s'", why, needle);
}

Test(options, errors) {
  const char *unknown[] = {"colour", "red", NULL};
  expect_error(unknown, "unknown option 'colour'");
  expect_error(unknown, "capacity, flag, mode, kind");
  const char *novalue[] = {"flag", NULL};
  expect_error(novalue, "has no value");
  const char *twice[] = {"flag", "1", "flag", "0", NULL};
  expect_error(twice, "given twice");
  const char *range[] = {"capacity", "8", NULL};
  expect_error(range, "outside 64..");
  const char *badbool[] = {"flag", "maybe", NULL};
  expect_error(badbool, "true or false");
  const char *badmode[] = {"mode", "0800", NULL};
  expect_error(badmode, "octal");
  const char *bigmode[] = {"mode", "7777", NULL};
  expect_error(bigmode, "octal");
  const char *badenum[] = {"kind", "sometimes", NULL};
  expect_error(badenum, "choices");
}

Test(options, custom_keys_pass) {
  const char *opts[] = {"x-vendor-thing", "whatever", "flag", "0", NULL};
  struct parsed p;
  char why[256];
  cr_assert_eq(parse(opts, &p, why), 0, "%s", why);
}
