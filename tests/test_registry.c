/* Registry: discovery, load gates, listing, concurrent loading. */
#include "config.h"

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sage/queue.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

#define SAGE_NAME_MAX_TEST 64 /* transport names are at most 64 chars */

static void assert_detail_has(const char *needle) {
  cr_assert(strstr(sage_last_error(), needle) != NULL, "detail '%s' lacks '%s'",
            sage_last_error(), needle);
}

static void expect_load(const char *name, int code, const char *reason) {
  use_plugin_path(fixtures_dir());
  int rc = sage_transport_load(name);
  cr_assert_eq(rc, code, "load %s: got %d (%s), want %d", name, rc,
               sage_last_error(), code);
  char file[64];
  snprintf(file, sizeof file, "sage-%s.so", name);
  assert_detail_has(file);
  assert_detail_has(reason);
}

Test(gates, valid_plugin_loads) {
  use_plugin_path(fixtures_dir());
  cr_assert_eq(sage_transport_load("mem"), 0, "%s", sage_last_error());
  int64_t caps = sage_transport_capabilities("mem");
  cr_assert(caps > 0 && (caps & SAGE_CAP_MPMC));
}

Test(gates, wrong_major) {
  expect_load("badmajor", SAGE_EBADABI, "ABI 2.0");
}

Test(gates, newer_minor) {
  expect_load("newminor", SAGE_EBADABI, "newer");
}

Test(gates, name_differs_from_stem) {
  expect_load("misnamed", SAGE_EBADPLUGIN, "does not match file stem");
}

Test(gates, missing_entry_symbol) {
  expect_load("noentry", SAGE_EBADPLUGIN, "no entry symbol");
}

Test(gates, null_mandatory_op) {
  expect_load("nullop", SAGE_EBADPLUGIN, "mandatory op 'put' is NULL");
}

/* A capability is a promise of its ops (SAGE_CAPABILITIES): one claimed
 * without them is refused, naming the capability and the op. */
Test(gates, capability_without_its_ops) {
  expect_load("capbatch", SAGE_EBADPLUGIN,
              "capability 'batch' but its op 'get_batch' is missing");
  expect_load("capzerocopy", SAGE_EBADPLUGIN,
              "capability 'zero_copy' but its op 'reserve' is missing");
  expect_load("caplist", SAGE_EBADPLUGIN,
              "capability 'list' but its op 'list' is missing");
}

Test(gates, entry_returns_null) {
  expect_load("nulldesc", SAGE_EBADPLUGIN, "returned NULL");
}

Test(gates, not_a_shared_object) {
  char *dir = make_temp_dir();
  write_file(dir, "sage-notso.so", "this is not an ELF file\n");
  use_plugin_path(dir);
  cr_assert_eq(sage_transport_load("notso"), SAGE_EBADPLUGIN);
  assert_detail_has("sage-notso.so");
  assert_detail_has("not a loadable shared object");
  remove_dir(dir);
}

Test(gates, directory_named_like_plugin) {
  char *dir = make_temp_dir();
  char sub[4096];
  snprintf(sub, sizeof sub, "%s/sage-adir.so", dir);
  cr_assert_eq(mkdir(sub, 0755), 0);
  use_plugin_path(dir);
  cr_assert_eq(sage_transport_load("adir"), SAGE_EBADPLUGIN);
  assert_detail_has("not a regular file");
  rmdir(sub);
  remove_dir(dir);
}

/* Root reads any file, so the check drops to an unprivileged uid first. */
Test(gates, unreadable_file) {
  char *dir = make_temp_dir();
  copy_fixture("mem", dir, "sage-mem.so");
  char path[4096];
  snprintf(path, sizeof path, "%s/sage-mem.so", dir);
  cr_assert_eq(chmod(path, 0), 0);
  if (geteuid() == 0) {
    cr_assert_eq(setgid(65534), 0);
    cr_assert_eq(setuid(65534), 0);
  }
  use_plugin_path(dir);
  cr_assert_eq(sage_transport_load("mem"), -EACCES, "%s", sage_last_error());
  assert_detail_has("cannot read");
  assert_detail_has(path);
}

Test(gates, small_ops_table_loads) {
  use_plugin_path(fixtures_dir());
  cr_assert_eq(sage_transport_load("smallops"), 0, "%s", sage_last_error());
}

Test(discovery, missing_plugin) {
  use_plugin_path(fixtures_dir());
  cr_assert_eq(sage_transport_load("nosuchtransport"), SAGE_ENOPLUGIN);
  assert_detail_has("nosuchtransport");
  assert_detail_has(fixtures_dir());
}

Test(discovery, bad_names) {
  use_plugin_path(fixtures_dir());
  char too_long[SAGE_NAME_MAX_TEST + 2];
  memset(too_long, 'a', sizeof too_long - 1);
  too_long[sizeof too_long - 1] = '\0';
  const char *bad[] = {"../mem", "a/b",    "..",  "",
                       "Mem",    "mem.so", "a-b", too_long};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(sage_transport_load(bad[i]), SAGE_EBADNAME, "name '%s'",
                 bad[i]);
    assert_detail_has("invalid transport name");
  }
  cr_assert_eq(sage_transport_load(NULL), SAGE_EBADNAME);
}

Test(discovery, empty_and_odd_paths) {
  const char *paths[] = {"", ":", "::::", "/nonexistent-dir", ":/nonexistent:"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    use_plugin_path(paths[i]);
    cr_assert_eq(sage_transport_load("mem"), SAGE_ENOPLUGIN, "path '%s'",
                 paths[i]);
  }
  char odd[8192];
  snprintf(odd, sizeof odd, "::/nonexistent::%s:", fixtures_dir());
  use_plugin_path(odd);
  cr_assert_eq(sage_transport_load("mem"), 0, "%s", sage_last_error());
}

static const char *listed_path(const char *name, int *status) {
  static char path[4096];
  sage_plugin_list *l;
  cr_assert_eq(sage_plugins_scan(&l), 0);
  path[0] = '\0';
  for (size_t i = 0; i < sage_plugins_count(l); i++)
    if (strcmp(sage_plugins_name(l, i), name) == 0) {
      snprintf(path, sizeof path, "%s", sage_plugins_path(l, i));
      *status = sage_plugins_status(l, i);
    }
  sage_plugins_free(l);
  return path;
}

/* The same name in two dirs: the SAGE_PLUGIN_PATH order decides. */
static void check_order(int first_is_a) {
  char *a = make_temp_dir(), *b = make_temp_dir();
  copy_fixture("mem", a, "sage-mem.so");
  copy_fixture("mem", b, "sage-mem.so");
  char path[8192], want[4096];
  snprintf(path, sizeof path, "%s:%s", first_is_a ? a : b, first_is_a ? b : a);
  use_plugin_path(path);
  cr_assert_eq(sage_transport_load("mem"), 0);
  snprintf(want, sizeof want, "%s/sage-mem.so", first_is_a ? a : b);
  int status = -1;
  cr_assert_str_eq(listed_path("mem", &status), want);
  cr_assert_eq(status, 0, "lazy load and listing disagree");
  remove_dir(a);
  remove_dir(b);
}

Test(discovery, plugin_path_order_a_first) {
  check_order(1);
}
Test(discovery, plugin_path_order_b_first) {
  check_order(0);
}

/* A broken plugin earlier on the path shadows a good one: first found wins,
 * and its error is reported rather than silently skipped. */
Test(discovery, first_found_wins_even_if_broken) {
  char *a = make_temp_dir();
  write_file(a, "sage-mem.so", "broken");
  char path[8192];
  snprintf(path, sizeof path, "%s:%s", a, fixtures_dir());
  use_plugin_path(path);
  cr_assert_eq(sage_transport_load("mem"), SAGE_EBADPLUGIN);
  assert_detail_has(a);
  remove_dir(a);
}

Test(listing, lists_good_and_refused) {
  use_plugin_path(fixtures_dir());
  sage_plugin_list *l;
  cr_assert_eq(sage_plugins_scan(&l), 0);
  int found_mem = 0, found_bad = 0;
  for (size_t i = 0; i < sage_plugins_count(l); i++) {
    const char *name = sage_plugins_name(l, i);
    if (strcmp(name, "mem") == 0) {
      found_mem = 1;
      cr_assert_eq(sage_plugins_status(l, i), 0);
      cr_assert_str_eq(sage_plugins_version(l, i), "9.9.9-fixture");
      cr_assert_eq(sage_plugins_abi(l, i), SAGE_TRANSPORT_ABI_VERSION);
      cr_assert(sage_plugins_capabilities(l, i) & SAGE_CAP_BLOCKING);
    }
    if (strcmp(name, "badmajor") == 0) {
      found_bad = 1;
      cr_assert_eq(sage_plugins_status(l, i), SAGE_EBADABI);
      cr_assert(strstr(sage_plugins_error(l, i), "ABI") != NULL);
    }
  }
  cr_assert(found_mem && found_bad);
  cr_assert_null(sage_plugins_name(l, sage_plugins_count(l)));
  sage_plugins_free(l);
}

/* Whether the fixture plugin file is mapped in this process. */
static int fixture_mapped(const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/sage-%s.so", fixtures_dir(), name);
  void *dl = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  if (dl != NULL)
    dlclose(dl);
  return dl != NULL;
}

static void scan_and_free(void) {
  sage_plugin_list *l;
  cr_assert_eq(sage_plugins_scan(&l), 0, "%s", sage_last_error());
  cr_assert(sage_plugins_count(l) >= 2);
  sage_plugins_free(l);
}

/* Listing reads each descriptor, then unloads what nobody else uses. */
Test(listing, scan_unloads_plugins_nobody_opened) {
  use_plugin_path(fixtures_dir());
  cr_assert(!fixture_mapped("mem") && !fixture_mapped("smallops"));
  scan_and_free();
  cr_assert(!fixture_mapped("mem"), "listing left sage-mem.so loaded");
  cr_assert(!fixture_mapped("smallops"),
            "listing left sage-smallops.so loaded");
  cr_assert(!fixture_mapped("badmajor"));
  sage_queue *q;
  cr_assert_eq(sage_queue_open("mem", "after-scan", NULL, &q), 0, "%s",
               sage_last_error());
  cr_assert(fixture_mapped("mem"));
  cr_assert_eq(sage_queue_close(q), 0);
}

/* Plugins loaded before the scan (explicitly, or by an open queue) stay. */
Test(listing, scan_keeps_plugins_in_use) {
  use_plugin_path(fixtures_dir());
  cr_assert_eq(sage_transport_load("smallops"), 0, "%s", sage_last_error());
  sage_queue *q;
  cr_assert_eq(sage_queue_open("mem", "in-use", NULL, &q), 0, "%s",
               sage_last_error());
  cr_assert_eq(sage_queue_put(q, "kept", 4, 0), 0);
  scan_and_free();
  cr_assert(fixture_mapped("mem") && fixture_mapped("smallops"));
  char buf[8];
  size_t len = 0;
  cr_assert_eq(sage_queue_get(q, buf, sizeof buf, &len, 0), 0, "%s",
               sage_last_error());
  cr_assert(len == 4 && memcmp(buf, "kept", 4) == 0);
  cr_assert_eq(sage_queue_close(q), 0);
  cr_assert(sage_transport_capabilities("smallops") > 0);
}

Test(explicit_path, loads_by_path_only_explicitly) {
  char *dir = make_temp_dir();
  copy_fixture("mem", dir, "sage-viapath.so"); /* descriptor says "mem" */
  char path[4096], name[64];
  snprintf(path, sizeof path, "%s/sage-viapath.so", dir);
  cr_assert_eq(sage_transport_load_path(path, name, sizeof name),
               SAGE_EBADPLUGIN);
  snprintf(path, sizeof path, "%s/sage-mem.so", fixtures_dir());
  cr_assert_eq(sage_transport_load_path(path, name, sizeof name), 0);
  cr_assert_str_eq(name, "mem");
  use_plugin_path("/nonexistent");
  cr_assert_eq(sage_transport_load("mem"), 0, "loaded plugins stay resident");
  cr_assert_eq(sage_transport_load_path("/tmp/not-a-plugin-name.so", NULL, 0),
               SAGE_EBADNAME);
  remove_dir(dir);
}

Test(choose, transport_choice_order) {
  unsetenv("SAGE_TRANSPORT");
  cr_assert_str_eq(sage_transport_choose(NULL), "shm");
  cr_assert_str_eq(sage_transport_choose(""), "shm");
  setenv("SAGE_TRANSPORT", "mem", 1);
  cr_assert_str_eq(sage_transport_choose(NULL), "mem");
  cr_assert_str_eq(sage_transport_choose("posixmq"), "posixmq");
}

#define LOADERS 16

static void *load_mem(void *arg) {
  (void)arg;
  intptr_t rc = sage_transport_load("mem");
  return (void *)rc;
}

Test(concurrency, same_plugin_from_many_threads) {
  use_plugin_path(fixtures_dir());
  pthread_t threads[LOADERS];
  for (int i = 0; i < LOADERS; i++)
    cr_assert_eq(pthread_create(&threads[i], NULL, load_mem, NULL), 0);
  for (int i = 0; i < LOADERS; i++) {
    void *rc;
    pthread_join(threads[i], &rc);
    cr_assert_eq((intptr_t)rc, 0);
  }
  sage_plugin_list *l;
  cr_assert_eq(sage_plugins_scan(&l), 0);
  size_t mem = 0;
  for (size_t i = 0; i < sage_plugins_count(l); i++)
    mem += strcmp(sage_plugins_name(l, i), "mem") == 0;
  cr_assert_eq(mem, 1);
  sage_plugins_free(l);
}

Test(errors, strerror_covers_codes) {
  cr_assert_str_eq(sage_strerror(0), "success");
  cr_assert_str_eq(sage_strerror(SAGE_ENOPLUGIN), "no such transport plugin");
  cr_assert(strstr(sage_strerror(-EMSGSIZE), "too long") != NULL);
  cr_assert_str_eq(sage_strerror(-99999), "unknown error");
  cr_assert_str_eq(sage_strerror(5), "unknown error");
}
