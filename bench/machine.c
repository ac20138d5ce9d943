/* What the run ran on: CPU model, kernel, clock source, versions, and the
 * cost of reading the clock (every latency sample contains one read). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <sage/queue.h>

#include "bench.h"

static void copy_trimmed(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src);
  size_t n = strlen(dst);
  while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
    dst[--n] = '\0';
}

static void read_line(const char *path, char *out, size_t cap) {
  char line[256] = "unknown";
  FILE *f = fopen(path, "r");
  if (f != NULL) {
    if (fgets(line, sizeof line, f) == NULL)
      snprintf(line, sizeof line, "unknown");
    fclose(f);
  }
  copy_trimmed(out, cap, line);
}

static void cpu_model(char *out, size_t cap) {
  char line[512];
  snprintf(out, cap, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f == NULL)
    return;
  while (fgets(line, sizeof line, f) != NULL) {
    char *colon = strchr(line, ':');
    if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
      copy_trimmed(out, cap, colon + 2);
      break;
    }
  }
  fclose(f);
}

static void transport_info(const char *name, struct bench_machine *m) {
  sage_plugin_list *list;
  snprintf(m->transport_version, sizeof m->transport_version, "unknown");
  if (sage_plugins_scan(&list) != 0)
    return;
  for (size_t i = 0; i < sage_plugins_count(list); i++) {
    if (strcmp(sage_plugins_name(list, i), name) != 0)
      continue;
    snprintf(m->transport_version, sizeof m->transport_version, "%s",
             sage_plugins_version(list, i));
    snprintf(m->transport_path, sizeof m->transport_path, "%s",
             sage_plugins_path(list, i));
    break;
  }
  sage_plugins_free(list);
}

static double timer_cost(void) {
  struct bench_series s = {0};
  for (int rep = 0; rep < 9; rep++) {
    int64_t t0 = bench_now_ns(), t1 = t0;
    for (int i = 0; i < 1000; i++)
      t1 = bench_now_ns();
    bench_series_add(&s, (double)(t1 - t0) / 1000);
  }
  return bench_summarize(&s).median;
}

void bench_machine_describe(const struct bench_cfg *cfg,
                            struct bench_machine *m) {
  memset(m, 0, sizeof *m);
  cpu_model(m->cpu_model, sizeof m->cpu_model);
  m->cpus = sysconf(_SC_NPROCESSORS_ONLN);
  struct utsname u;
  if (uname(&u) == 0)
    snprintf(m->kernel, sizeof m->kernel, "%s %s %s", u.sysname, u.release,
             u.machine);
  read_line("/sys/devices/system/clocksource/clocksource0/"
            "current_clocksource",
            m->clocksource, sizeof m->clocksource);
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(m->date_utc, sizeof m->date_utc, "%Y-%m-%dT%H:%M:%SZ", &tm);
  snprintf(m->lib_version, sizeof m->lib_version, "%s", sage_version());
  transport_info(cfg->transport, m);
  m->timer_ns = timer_cost();
}
