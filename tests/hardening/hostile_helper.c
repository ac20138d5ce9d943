/* Helper for hostile_users.sh: runs one queue operation as another user.
 *
 *   hostile_helper UID GID CMD ARGS...
 *
 * Started as root, it loads the shm plugin, then drops to UID/GID for good
 * (no supplementary groups, no way back) and runs CMD. UID -1 stays root.
 * Exit status: 0 if CMD succeeded, else the errno it failed with (EACCES,
 * EPERM, ...); 100+ for a usage or setup error. Messages go to stdout.
 *
 *   create NAME MODE TEXT       create NAME (own namespace), put TEXT
 *   squat NAME VICTIM MODE TEXT create a queue under VICTIM's name, put TEXT
 *   open NAME OWNER [observe]   open OWNER's queue NAME (attach=0 if observe)
 *   get NAME OWNER [trust]      open, take one message and print it
 *                               (allow_foreign=1 if trust)
 *   unlink NAME OWNER [force]   remove OWNER's queue NAME
 *   read PATH                   read the segment file's first bytes */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sage/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(int rc) {
  printf("rc=%d (%s): %s\n", rc, sage_strerror(rc), sage_last_error());
  return rc < 0 && rc > -100 ? -rc : 100;
}

static int drop_to(const char *uid_text, const char *gid_text) {
  long uid = strtol(uid_text, NULL, 10), gid = strtol(gid_text, NULL, 10);
  if (uid < 0)
    return 0;
  if (setgroups(0, NULL) != 0 || setgid((gid_t)gid) != 0 ||
      setuid((uid_t)uid) != 0) {
    perror("hostile_helper: dropping privileges");
    return -1;
  }
  if (setuid(0) == 0) {
    fprintf(stderr, "hostile_helper: could regain root\n");
    return -1;
  }
  return 0;
}

static int open_with(const char *name, const char *owner, const char *k1,
                     const char *v1, sage_queue **q) {
  const char *opts[] = {"create", "never", "uid", owner, k1, v1, NULL};
  return sage_queue_open("shm", name, opts, q);
}

static int cmd_create(const char *name, const char *mode, const char *text,
                      const char *owner) {
  const char *opts[] = {"create", "always", "mode", mode, owner ? "uid" : NULL,
                        owner,    NULL};
  sage_queue *q;
  int rc = sage_queue_open("shm", name, opts, &q);
  if (rc == 0)
    rc = sage_queue_put(q, text, strlen(text), 0);
  if (rc != 0)
    return fail(rc);
  sage_queue_close(q);
  printf("created\n");
  return 0;
}

static int cmd_open(const char *name, const char *owner, int observe) {
  sage_queue *q;
  int rc = open_with(name, owner, observe ? "attach" : NULL, "0", &q);
  if (rc != 0)
    return fail(rc);
  sage_queue_close(q);
  printf("opened\n");
  return 0;
}

static int cmd_get(const char *name, const char *owner, int trust) {
  sage_queue *q;
  int rc = open_with(name, owner, trust ? "allow_foreign" : NULL, "1", &q);
  char buf[256];
  size_t len = 0;
  if (rc == 0)
    rc = sage_queue_get(q, buf, sizeof buf - 1, &len, 0);
  if (rc != 0)
    return fail(rc);
  buf[len] = '\0';
  printf("got %s\n", buf);
  sage_queue_close(q);
  return 0;
}

static int cmd_unlink(const char *name, const char *owner, int force) {
  const char *opts[] = {"uid", owner, force ? "force" : NULL, "1", NULL};
  int rc = sage_queue_unlink("shm", name, opts);
  if (rc != 0)
    return fail(rc);
  printf("unlinked\n");
  return 0;
}

static int cmd_read(const char *path) {
  int fd = open(path, O_RDONLY);
  char buf[64];
  if (fd < 0 || read(fd, buf, sizeof buf) < 0) {
    int err = errno;
    printf("read %s: %s\n", path, strerror(err));
    return err;
  }
  close(fd);
  printf("read ok\n");
  return 0;
}

static int has(int argc, char **argv, int i, const char *word) {
  return argc > i && strcmp(argv[i], word) == 0;
}

int main(int argc, char **argv) {
  if (argc < 5)
    return 101;
  if (sage_transport_load("shm") != 0) { /* before losing access to it */
    printf("load: %s\n", sage_last_error());
    return 102;
  }
  if (drop_to(argv[1], argv[2]) != 0)
    return 103;
  const char *cmd = argv[3];
  char **a = argv + 4;
  int n = argc - 4;
  setvbuf(stdout, NULL, _IONBF, 0);
  if (strcmp(cmd, "create") == 0 && n == 3)
    return cmd_create(a[0], a[1], a[2], NULL);
  if (strcmp(cmd, "squat") == 0 && n == 4)
    return cmd_create(a[0], a[2], a[3], a[1]);
  if (strcmp(cmd, "open") == 0 && n >= 2)
    return cmd_open(a[0], a[1], has(n, a, 2, "observe"));
  if (strcmp(cmd, "get") == 0 && n >= 2)
    return cmd_get(a[0], a[1], has(n, a, 2, "trust"));
  if (strcmp(cmd, "unlink") == 0 && n >= 2)
    return cmd_unlink(a[0], a[1], has(n, a, 2, "force"));
  if (strcmp(cmd, "read") == 0 && n == 1)
    return cmd_read(a[0]);
  return 104;
}
