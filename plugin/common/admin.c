/* Admin option parsing shared by the in-tree transports. */
#include "config.h"

#include "admin.h"

#include "options.h"

#define ADMIN(key, type, field, hi)                                            \
  { key, type, offsetof(struct sage_admin_options, field), 0, hi, NULL }

static const struct sage_opt_spec specs[] = {
    ADMIN("all", SAGE_OPT_BOOL, all, 0),
    ADMIN("force", SAGE_OPT_BOOL, force, 0),
    ADMIN("uid", SAGE_OPT_SIZE, uid, UINT32_MAX),
    ADMIN("unless_attached", SAGE_OPT_BOOL, unless_attached, 0),
    ADMIN("only_if_stale", SAGE_OPT_BOOL, only_if_stale, 0),
};

int sage_admin_parse(const char *const *options, struct sage_admin_options *a,
                     char *why, size_t why_cap) {
  *a = (struct sage_admin_options){.uid = SAGE_ADMIN_UID_SELF};
  return sage_opts_parse(options, specs, sizeof specs / sizeof specs[0], a, why,
                         why_cap);
}
