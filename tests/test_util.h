/* Helpers shared by the Criterion suites. */
#ifndef SAGE_TEST_UTIL_H
#define SAGE_TEST_UTIL_H

#include <sage/queue.h>
#include <stddef.h>

/* $SAGE_TEST_FIXTURES (fixture plugins dir); aborts the test if unset. */
const char *fixtures_dir(void);
/* Sets SAGE_PLUGIN_PATH for this (forked) test process. */
void use_plugin_path(const char *path);
/* mkdtemp under /tmp, mode 0755; returns a static-per-call malloc'd path. */
char *make_temp_dir(void);
/* Copies fixture "sage-<name>.so" into dir as file name `as`. */
void copy_fixture(const char *name, const char *dir, const char *as);
/* Writes `text` to dir/file. */
void write_file(const char *dir, const char *file, const char *text);
/* Removes dir and its files (one level). */
void remove_dir(const char *dir);
/* q's statistics; fails the test if they cannot be read. */
struct sage_stats stats_of(sage_queue *q);

#endif
