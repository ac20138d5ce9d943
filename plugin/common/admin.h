/* Options of the name-based admin ops (list, unlink), shared by the
 * in-tree transports so every tool can pass the same keys. */
#ifndef SAGE_PLUGIN_ADMIN_H
#define SAGE_PLUGIN_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#define SAGE_ADMIN_UID_SELF UINT64_MAX

struct sage_admin_options {
  uint64_t all;             /* list: every user's queues */
  uint64_t force;           /* unlink: remove without validating */
  uint64_t uid;             /* the owner's namespace (default: ours) */
  uint64_t unless_attached; /* unlink: -EBUSY if anyone is attached */
  uint64_t only_if_stale;   /* unlink: -EBUSY unless every attachment died */
};

/* Parses admin options (unknown keys are -EINVAL unless "x-"). */
int sage_admin_parse(const char *const *options, struct sage_admin_options *a,
                     char *why, size_t why_cap);

#endif
