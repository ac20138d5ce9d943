#include "config.h"

#include "test_util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fixtures_dir(void) {
  const char *dir = getenv("SAGE_TEST_FIXTURES");
  cr_assert_not_null(dir, "SAGE_TEST_FIXTURES is not set (run via make check)");
  return dir;
}

void use_plugin_path(const char *path) {
  cr_assert_eq(setenv("SAGE_PLUGIN_PATH", path, 1), 0);
}

char *make_temp_dir(void) {
  char *dir = strdup("/tmp/sage-test-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  cr_assert_eq(chmod(dir, 0755), 0);
  return dir;
}

void copy_fixture(const char *name, const char *dir, const char *as) {
  char src[4096], dst[4096], buf[65536];
  snprintf(src, sizeof src, "%s/sage-%s.so", fixtures_dir(), name);
  snprintf(dst, sizeof dst, "%s/%s", dir, as);
  int in = open(src, O_RDONLY),
      out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
  cr_assert(in >= 0 && out >= 0, "copy %s -> %s", src, dst);
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0)
    cr_assert_eq(write(out, buf, (size_t)n), n);
  close(in);
  close(out);
}

void write_file(const char *dir, const char *file, const char *text) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

struct sage_stats stats_of(sage_queue *q) {
  struct sage_stats st = {.size = sizeof st};
  cr_assert_eq(sage_queue_stats(q, &st), 0, "%s", sage_last_error());
  return st;
}
