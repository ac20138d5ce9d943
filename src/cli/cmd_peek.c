/* sage-queue peek, put and drain: looking inside a queue from a shell.
 * Messages are shown decoded where that is safe without running Python:
 * simple pickles of str, bytes, int, float, bool and None are recognised
 * opcode by opcode; anything else is a hex dump. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define HEX_MAX 256 /* bytes of a message shown in hex */

/* ---- decoding ---- */

struct decoded {
  const char *kind; /* "str", "bytes", "int", "float", "bool", "none",
                       "pickle" (not decoded), "raw" */
  const unsigned char *data;
  size_t len;  /* of the str/bytes payload */
  long long i; /* int, bool */
  double d;    /* float */
};

static uint64_t le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int k = n - 1; k >= 0; k--)
    v = v << 8 | p[k];
  return v;
}

/* One value pickled by protocol 2..5: PROTO, [FRAME], one value opcode,
 * [MEMOIZE | BINPUT n], STOP, and nothing more. */
static int decode_pickle(const unsigned char *m, size_t n, struct decoded *d) {
  size_t at = 2;
  if (n < 3 || m[0] != 0x80 || m[1] < 2 || m[1] > 5)
    return -1;
  if (m[at] == 0x95) { /* FRAME, 8-byte length */
    if (n < at + 9 || le(m + at + 1, 8) != n - at - 9)
      return -1;
    at += 9;
  }
  if (at >= n)
    return -1;
  unsigned char op = m[at++];
  size_t lenbytes = 0;
  d->kind = NULL;
  switch (op) {
  case 0x8c: /* SHORT_BINUNICODE */
  case 0x43: /* SHORT_BINBYTES */
    lenbytes = 1;
    break;
  case 0x58: /* BINUNICODE */
  case 0x42: /* BINBYTES */
    lenbytes = 4;
    break;
  case 0x8d: /* BINUNICODE8 */
  case 0x8e: /* BINBYTES8 */
    lenbytes = 8;
    break;
  case 0x4b: /* BININT1 */
    if (at + 1 > n)
      return -1;
    d->kind = "int", d->i = m[at], at += 1;
    break;
  case 0x4d: /* BININT2 */
    if (at + 2 > n)
      return -1;
    d->kind = "int", d->i = (long long)le(m + at, 2), at += 2;
    break;
  case 0x4a: /* BININT, signed */
    if (at + 4 > n)
      return -1;
    d->kind = "int", d->i = (int32_t)(uint32_t)le(m + at, 4), at += 4;
    break;
  case 0x47: { /* BINFLOAT, big-endian */
    if (at + 8 > n)
      return -1;
    uint64_t bits = 0;
    for (int k = 0; k < 8; k++)
      bits = bits << 8 | m[at + k];
    memcpy(&d->d, &bits, sizeof d->d);
    d->kind = "float", at += 8;
    break;
  }
  case 0x88: /* NEWTRUE */
  case 0x89: /* NEWFALSE */
    d->kind = "bool", d->i = op == 0x88;
    break;
  case 0x4e: /* NONE */
    d->kind = "none";
    break;
  default:
    return -1;
  }
  if (lenbytes != 0) {
    if (at + lenbytes > n)
      return -1;
    uint64_t len = le(m + at, (int)lenbytes);
    at += lenbytes;
    if (len > n - at)
      return -1;
    d->kind = op == 0x8c || op == 0x58 || op == 0x8d ? "str" : "bytes";
    d->data = m + at;
    d->len = (size_t)len;
    at += (size_t)len;
  }
  if (at < n && m[at] == 0x94) /* MEMOIZE */
    at++;
  else if (at + 1 < n && m[at] == 0x71) /* BINPUT n */
    at += 2;
  return at + 1 == n && m[at] == 0x2e ? 0 : -1; /* STOP, the end */
}

static void decode(const void *data, size_t len, struct decoded *d) {
  *d = (struct decoded){.kind = "raw", .data = data, .len = len};
  const unsigned char *m = data;
  if (len > 0 && m[0] == 0x80 && decode_pickle(m, len, d) != 0)
    *d = (struct decoded){.kind = "pickle", .data = data, .len = len};
}

/* xxd-like: offset, 16 bytes in hex, the printable ones. */
static void hex_dump(FILE *out, const unsigned char *m, size_t len) {
  size_t shown = len < HEX_MAX ? len : HEX_MAX;
  for (size_t off = 0; off < shown; off += 16) {
    fprintf(out, "  %08zx:", off);
    for (size_t k = 0; k < 16; k++) {
      if (k % 2 == 0)
        fputc(' ', out);
      if (off + k < shown)
        fprintf(out, "%02x", m[off + k]);
      else
        fputs("  ", out);
    }
    fputs("  ", out);
    for (size_t k = 0; k < 16 && off + k < shown; k++)
      fputc(m[off + k] >= 0x20 && m[off + k] < 0x7f ? m[off + k] : '.', out);
    fputc('\n', out);
  }
  if (shown < len)
    fprintf(out, "  ... %zu more bytes\n", len - shown);
}

/* A str's text with control characters escaped. */
static void print_text(FILE *out, const unsigned char *s, size_t len) {
  fputc('\'', out);
  for (size_t k = 0; k < len; k++) {
    if (s[k] == '\'' || s[k] == '\\')
      fprintf(out, "\\%c", s[k]);
    else if (s[k] < 0x20 || s[k] == 0x7f)
      fprintf(out, "\\x%02x", s[k]);
    else
      fputc(s[k], out);
  }
  fputc('\'', out);
}

static void print_message(FILE *out, size_t index, const void *data,
                          size_t len) {
  struct decoded d;
  decode(data, len, &d);
  fprintf(out, "#%zu ", index);
  if (strcmp(d.kind, "str") == 0) {
    fprintf(out, "str (pickle, %zu bytes): ", len);
    print_text(out, d.data, d.len);
    fputc('\n', out);
  } else if (strcmp(d.kind, "bytes") == 0) {
    fprintf(out, "bytes (pickle, %zu bytes), %zu bytes:\n", len, d.len);
    hex_dump(out, d.data, d.len);
  } else if (strcmp(d.kind, "int") == 0 || strcmp(d.kind, "bool") == 0) {
    if (d.kind[0] == 'b')
      fprintf(out, "bool (pickle): %s\n", d.i ? "True" : "False");
    else
      fprintf(out, "int (pickle): %lld\n", d.i);
  } else if (strcmp(d.kind, "float") == 0) {
    fprintf(out, "float (pickle): %.17g\n", d.d);
  } else if (strcmp(d.kind, "none") == 0) {
    fprintf(out, "None (pickle)\n");
  } else {
    fprintf(out, "%s, %zu byte%s:\n", d.kind, len, len == 1 ? "" : "s");
    hex_dump(out, data, len);
  }
}

static void json_hex(FILE *out, const unsigned char *m, size_t len) {
  fputc('"', out);
  for (size_t k = 0; k < len; k++)
    fprintf(out, "%02x", m[k]);
  fputc('"', out);
}

/* A JSON string of arbitrary bytes: valid text only if it has no NULs
 * (json_string stops at one); otherwise hex is given instead. */
static void print_message_json(FILE *out, const void *data, size_t len,
                               int first) {
  struct decoded d;
  decode(data, len, &d);
  fprintf(out, "%s{\"size\": %zu, \"kind\": ", first ? "" : ", ", len);
  json_string(out, d.kind);
  if (strcmp(d.kind, "str") == 0 && memchr(d.data, 0, d.len) == NULL) {
    char *s = strndup((const char *)d.data, d.len);
    fputs(", \"value\": ", out);
    json_string(out, s ? s : "");
    free(s);
  } else if (strcmp(d.kind, "int") == 0) {
    fprintf(out, ", \"value\": %lld", d.i);
  } else if (strcmp(d.kind, "bool") == 0) {
    fprintf(out, ", \"value\": %s", d.i ? "true" : "false");
  } else if (strcmp(d.kind, "float") == 0 && isfinite(d.d)) {
    fprintf(out, ", \"value\": %.17g", d.d);
  } else if (strcmp(d.kind, "none") == 0) {
    fputs(", \"value\": null", out);
  }
  fputs(", \"hex\": ", out);
  json_hex(out, data, len < HEX_MAX ? len : HEX_MAX);
  fprintf(out, ", \"truncated\": %s}", len > HEX_MAX ? "true" : "false");
}

/* ---- shared option handling ---- */

enum { OPT_COUNT = 1, OPT_TIMEOUT, OPT_PICKLE };

struct io_args {
  const char *name;
  const char *transport;
  uint64_t count; /* 0: every message */
  double timeout_s;
  int pickle;
  char **data;
  int ndata;
  struct cli_target target; /* name and transport point into it */
};

static int parse_io(const struct cli_command *cmd, int argc, char **argv,
                    struct cli_opts *opts, struct io_args *a) {
  static const struct cli_option options[] = {
      {"count", 'n', CLI_VALUE, OPT_COUNT},
      {"timeout", 0, CLI_VALUE, OPT_TIMEOUT},
      {"pickle-str", 0, CLI_FLAG, OPT_PICKLE},
  };
  struct cli_parser p;
  const char *value;
  int id, npos;
  /* peek: --count; drain: --count, --timeout; put: --timeout, --pickle */
  size_t first = cmd == &cmd_put ? 1 : 0;
  size_t nopts = cmd == &cmd_peek ? 1 : 2;
  cli_parser_init(&p, cmd, argc, argv, options + first, nopts, opts);
  p.queue_options = 1;
  while ((id = cli_next_option(&p, &value)) > 0) {
    if (id == OPT_COUNT &&
        (cli_parse_count(value, &a->count) != 0 || a->count == 0))
      return cli_usage(cmd, "--count: '%s' is not a positive count", value);
    if (id == OPT_TIMEOUT && cli_parse_seconds(value, &a->timeout_s) != 0)
      return cli_usage(cmd,
                       "--timeout: '%s' is not a number of seconds in "
                       "(0, 86400]",
                       value);
    if (id == OPT_PICKLE)
      a->pickle = 1;
  }
  if (id < 0)
    return EXIT_USAGE;
  char **pos = cli_positional(&p, &npos);
  if (npos == 0)
    return cli_usage(cmd, "missing queue NAME");
  if (cmd != &cmd_put && npos > 1)
    return cli_usage(cmd, "one queue NAME only, got '%s'", pos[1]);
  int rc = cli_target(cmd, pos[0], opts->transport, &a->target);
  if (rc != EXIT_OK)
    return rc;
  a->name = a->target.name;
  a->transport = a->target.transport;
  a->data = pos + 1;
  a->ndata = npos - 1;
  return EXIT_OK;
}

static int open_existing(const struct io_args *a, sage_queue **q) {
  const char *options[] = {SAGE_OPTION_CREATE, SAGE_CREATE_NEVER, NULL};
  return sage_queue_open(a->transport, a->name, options, q);
}

/* ---- peek ---- */

static int run_peek(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts opts = *global;
  struct io_args a = {.count = 10};
  int rc = parse_io(&cmd_peek, argc, argv, &opts, &a);
  if (rc != EXIT_OK)
    return rc;
  struct queue_view v;
  rc = queue_observe(a.transport, a.name, (uint32_t)geteuid(), &v);
  if (rc != 0)
    return cli_fail_code(cli_code_name(v.rc), "peek %s: %s", a.name, v.error);
  const char *transport = sage_transport_choose(a.transport);
  int64_t caps = sage_transport_capabilities(transport);
  /* The API's only in-place read, sage_queue_peek, is the zero-copy get:
   * it takes the head message, and release frees it. No transport can
   * show a message and leave it queued. */
  return cli_fail_code(
      "ENOTSUP",
      "peek %s: %llu message%s (%llu bytes) queued, not shown: transport "
      "%s %s, and sage_queue_peek takes the head message (release frees "
      "it), so no message can be read without taking it; 'sage-queue "
      "drain %s -n %llu' takes and prints them",
      a.name, (unsigned long long)v.st.items, v.st.items == 1 ? "" : "s",
      (unsigned long long)v.st.bytes_used, transport,
      caps > 0 && (caps & SAGE_CAP_ZERO_COPY)
          ? "has zero_copy"
          : "has no zero_copy capability (no peek at all)",
      a.name, (unsigned long long)a.count);
}

/* ---- drain ---- */

static int run_drain(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts opts = *global;
  struct io_args a = {0};
  int rc = parse_io(&cmd_drain, argc, argv, &opts, &a);
  if (rc != EXIT_OK)
    return rc;
  sage_queue *q;
  rc = open_existing(&a, &q);
  if (rc != 0)
    return cli_error_in("drain", a.name, rc);
  struct sage_stats st = {.size = sizeof st};
  size_t cap = 1 << 16;
  if (sage_queue_stats(q, &st) == 0 && st.max_message > cap)
    cap = (size_t)st.max_message;
  unsigned char *buf = malloc(cap);
  if (buf == NULL) {
    sage_queue_close(q);
    return cli_fail("drain: out of memory");
  }
  int64_t timeout_ns = (int64_t)(a.timeout_s * 1e9);
  size_t n = 0;
  if (opts.json) {
    printf("{");
    json_key(stdout, "queue", 1);
    json_string(stdout, a.name);
    printf(", \"messages\": [");
  }
  rc = 0;
  while (a.count == 0 || n < a.count) {
    size_t len = 0;
    rc = sage_queue_get(q, buf, cap, &len, timeout_ns);
    if (rc != 0)
      break;
    if (opts.json)
      print_message_json(stdout, buf, len, n == 0);
    else
      print_message(stdout, n + 1, buf, len);
    n++;
  }
  if (rc == -EAGAIN || rc == -ETIMEDOUT)
    rc = 0;
  if (opts.json) {
    printf("], \"count\": %zu", n);
    if (rc != 0) {
      const char *detail = sage_last_error();
      printf(", \"error\": {\"message\": ");
      json_string(stdout, detail[0] ? detail : sage_strerror(rc));
      printf(", \"code\": ");
      json_string(stdout, cli_code_name(rc));
      printf("}");
    }
    printf("}\n");
  } else if (n == 0 && rc == 0) {
    printf("queue %s is empty\n", a.name);
  }
  free(buf);
  if (rc != 0) {
    const char *detail = sage_last_error();
    fprintf(stderr, "sage-queue: drain %s: %s\n", a.name,
            detail[0] ? detail : sage_strerror(rc));
  }
  sage_queue_close(q);
  return rc == 0 ? EXIT_OK : EXIT_ERROR;
}

/* ---- put ---- */

/* pickle.dumps(text, protocol=5) for a str: PROTO 5, FRAME, (SHORT_)
 * BINUNICODE, MEMOIZE, STOP. */
static unsigned char *pickle_str(const char *s, size_t len, size_t *out) {
  size_t head = len < 256 ? 2 : 5;
  size_t body = head + len + 2;
  unsigned char *m = malloc(11 + body);
  if (m == NULL)
    return NULL;
  size_t at = 0;
  m[at++] = 0x80;
  m[at++] = 5;
  m[at++] = 0x95;
  for (int k = 0; k < 8; k++)
    m[at++] = (unsigned char)((uint64_t)body >> (8 * k));
  if (len < 256) {
    m[at++] = 0x8c;
    m[at++] = (unsigned char)len;
  } else {
    m[at++] = 0x58;
    for (int k = 0; k < 4; k++)
      m[at++] = (unsigned char)((uint64_t)len >> (8 * k));
  }
  memcpy(m + at, s, len);
  at += len;
  m[at++] = 0x94;
  m[at++] = 0x2e;
  *out = at;
  return m;
}

static int put_one(sage_queue *q, const struct io_args *a, const char *s,
                   size_t len) {
  int64_t timeout_ns = (int64_t)(a->timeout_s * 1e9);
  if (!a->pickle)
    return sage_queue_put(q, s, len, timeout_ns);
  size_t n;
  unsigned char *m = pickle_str(s, len, &n);
  if (m == NULL)
    return -ENOMEM;
  int rc = sage_queue_put(q, m, n, timeout_ns);
  free(m);
  return rc;
}

static int run_put(int argc, char **argv, const struct cli_opts *global) {
  struct cli_opts opts = *global;
  struct io_args a = {0};
  int rc = parse_io(&cmd_put, argc, argv, &opts, &a);
  if (rc != EXIT_OK)
    return rc;
  sage_queue *q;
  rc = open_existing(&a, &q);
  if (rc != 0)
    return cli_error_in("put", a.name, rc);
  size_t n = 0;
  if (a.ndata > 0) {
    for (int i = 0; i < a.ndata && rc == 0; i++)
      if ((rc = put_one(q, &a, a.data[i], strlen(a.data[i]))) == 0)
        n++;
  } else { /* one message a line of stdin, without its newline */
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (rc == 0 && (len = getline(&line, &cap, stdin)) >= 0) {
      if (len > 0 && line[len - 1] == '\n')
        len--;
      if ((rc = put_one(q, &a, line, (size_t)len)) == 0)
        n++;
    }
    free(line);
  }
  if (rc == -EAGAIN || rc == -ETIMEDOUT) {
    rc = cli_fail_code(cli_code_name(rc),
                       "put %s: the queue is full after %zu message%s%s",
                       a.name, n, n == 1 ? "" : "s",
                       rc == -EAGAIN ? " (--timeout S waits for room)"
                                     : ", and stayed full for --timeout");
  } else if (rc != 0) {
    char what[256];
    snprintf(what, sizeof what, "put %s (after %zu message%s)", a.name, n,
             n == 1 ? "" : "s");
    rc = cli_error(what, rc);
  } else if (opts.json) {
    printf("{");
    json_key(stdout, "queue", 1);
    json_string(stdout, a.name);
    printf(", \"put\": %zu}\n", n);
  } else {
    printf("put %zu message%s on %s\n", n, n == 1 ? "" : "s", a.name);
  }
  sage_queue_close(q);
  return rc;
}

const struct cli_command cmd_peek = {
    .name = "peek",
    .summary = "why a queue's messages cannot be shown without taking them",
    .usage =
        "usage: sage-queue peek NAME [-n N] [--transport NAME] [--json]\n\n"
        "Would show up to N (default 10) messages of queue NAME without\n"
        "taking them. No transport can: the queue API's only in-place\n"
        "read, sage_queue_peek (zero_copy capability), takes the head\n"
        "message, and sage_queue_release frees it. So peek says how many\n"
        "messages and bytes are queued, why they cannot be shown, and\n"
        "exits 1; `sage-queue drain NAME -n N` takes and prints them.\n\n"
        "Options:\n"
        "  -n, --count N         messages to show (default 10)\n"
        "  -t, --transport NAME  transport of the queue\n"
        "  --json                the reason as {\"error\": {\"message\",\n"
        "                        \"code\": \"ENOTSUP\"}}\n\n"
        "Examples:\n"
        "  $ sage-queue peek jobs\n"
        "  $ sage-queue drain jobs -n 1\n\n"
        "Exit status: 1 (with the reason; code ENOTSUP in --json), 2 "
        "usage.\n",
    .run = run_peek,
};

const struct cli_command cmd_put = {
    .name = "put",
    .summary = "put messages on a queue from arguments or stdin lines",
    .usage =
        "usage: sage-queue put NAME [DATA...] [--pickle-str] [--timeout S]\n"
        "                      [--transport NAME] [--json]\n\n"
        "Puts each DATA (or, with none, each line of stdin without its\n"
        "newline) on the existing queue NAME as one message of raw bytes.\n\n"
        "Options:\n"
        "  --pickle-str        put each as a pickled str (protocol 5), as\n"
        "                      Python's SageQueue.put(text) would\n"
        "  --timeout SECONDS   wait up to SECONDS for room (default: fail\n"
        "                      at once when full)\n"
        "  -t, --transport NAME  transport of the queue\n"
        "  --json              {\"queue\": NAME, \"put\": COUNT}\n\n"
        "Examples:\n"
        "  $ sage-queue put jobs hello world\n"
        "  $ seq 3 | sage-queue put jobs --pickle-str\n\n"
        "Exit status: 0 ok, 1 error (full, no such queue), 2 usage.\n",
    .run = run_put,
};

const struct cli_command cmd_drain = {
    .name = "drain",
    .summary = "take messages off a queue and print them (for scripts)",
    .usage =
        "usage: sage-queue drain NAME [-n N] [--timeout S]\n"
        "                        [--transport NAME] [--json]\n\n"
        "Takes up to N messages (default: until the queue is empty) from\n"
        "queue NAME and prints each: a pickle of a str, bytes, int, float,\n"
        "bool or None decoded (recognised opcode by opcode, no unpickler\n"
        "runs), any other pickle as \"pickle, N bytes\" and raw bytes as a\n"
        "hex dump (first 256 bytes).\n\n"
        "Options:\n"
        "  -n, --count N       take at most N messages\n"
        "  --timeout SECONDS   wait up to SECONDS for each message\n"
        "                      (default: stop when the queue is empty)\n"
        "  -t, --transport NAME  transport of the queue\n"
        "  --json              {\"queue\", \"messages\": [{\"size\", "
        "\"kind\",\n"
        "                      \"value\", \"hex\", \"truncated\"}], "
        "\"count\"}\n\n"
        "Examples:\n"
        "  $ sage-queue drain jobs -n 5\n"
        "  $ sage-queue drain jobs --json --timeout 2\n\n"
        "Exit status: 0 ok (also when empty), 1 error, 2 usage.\n",
    .run = run_drain,
};
