/* Stats by name: one table maps each struct sage_stats field to its name. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "internal.h"

#define STAT(field)                                                            \
  { #field, offsetof(struct sage_stats, field) }

static const struct {
  const char *name;
  size_t offset;
} fields[] = {
    STAT(capacity),        STAT(max_message),     STAT(max_items),
    STAT(bytes_used),      STAT(items),           STAT(total_put),
    STAT(total_got),       STAT(bytes_put),       STAT(bytes_got),
    STAT(high_water),      STAT(blocked_puts),    STAT(blocked_gets),
    STAT(timeouts),        STAT(abandoned),       STAT(attached),
    STAT(waiting_readers), STAT(waiting_writers), STAT(owner_uid),
    STAT(creator_pid),     STAT(created_ns),      STAT(stale_attached),
    STAT(unfinished),
};

#define FIELD_COUNT (sizeof fields / sizeof fields[0])

SAGE_API size_t sage_stats_count(void) {
  return FIELD_COUNT;
}

SAGE_API const char *sage_stats_name(size_t i) {
  return i < FIELD_COUNT ? fields[i].name : NULL;
}

SAGE_API int sage_queue_stats_values(sage_queue *q, uint64_t *values,
                                     size_t n) {
  struct sage_stats st = {.size = sizeof st};
  int rc = sage_queue_stats(q, &st);
  if (rc != 0)
    return rc;
  if (values == NULL && n > 0)
    return sage__fail(-EINVAL, "stats values buffer is NULL");
  size_t count = n < FIELD_COUNT ? n : FIELD_COUNT;
  for (size_t i = 0; i < count; i++)
    memcpy(&values[i], (const char *)&st + fields[i].offset, sizeof values[i]);
  return (int)count;
}
