/* The open handles of one plugin, for fork handling: each plugin links its
 * own copy, registers its per-handle fork hooks once, and embeds a link in
 * every handle it tracks. The hooks run for every tracked handle with the
 * registry locked (prepare before fork, parent/child after it). */
#ifndef SAGE_PLUGIN_HANDLES_H
#define SAGE_PLUGIN_HANDLES_H

#include <stddef.h>

struct sage_handle_link {
  struct sage_handle_link *next;
};

struct sage_fork_hooks {
  void (*prepare)(struct sage_handle_link *); /* may be NULL */
  void (*parent)(struct sage_handle_link *);  /* may be NULL */
  void (*child)(struct sage_handle_link *);   /* may be NULL */
};

/* Adds/removes a handle. The first track installs the fork handlers. */
void sage_handles_track(struct sage_handle_link *link,
                        const struct sage_fork_hooks *hooks);
void sage_handles_untrack(struct sage_handle_link *link);

/* The registry lock, also held while the hooks run (so a handle can use it
 * to serialise work that must not race a fork, e.g. re-attaching). */
void sage_handles_lock(void);
void sage_handles_unlock(void);

#define SAGE_CONTAINER_OF(ptr, type, member)                                   \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
