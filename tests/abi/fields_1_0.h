/* The ABI 1.0 surface, listed once: every struct field, struct and
 * constant a 1.0 plugin may rely on. test_layout compiles this list
 * against the frozen 1.0 header and against the live header and compares:
 * a field may never move or change size, a struct may only grow, a
 * constant may never change. Append to it only when freezing a new minor
 * (see docs/PLUGINS.md, "Versioning"). */
#ifndef SAGE_ABI_FIELDS_1_0_H
#define SAGE_ABI_FIELDS_1_0_H

#define ABI_1_0_FIELDS(F)                                                      \
  F(sage_host, abi_version)                                                    \
  F(sage_host, size)                                                           \
  F(sage_host, log)                                                            \
  F(sage_host, set_detail)                                                     \
  F(sage_stats, size)                                                          \
  F(sage_stats, reserved)                                                      \
  F(sage_stats, capacity)                                                      \
  F(sage_stats, max_message)                                                   \
  F(sage_stats, max_items)                                                     \
  F(sage_stats, bytes_used)                                                    \
  F(sage_stats, items)                                                         \
  F(sage_stats, total_put)                                                     \
  F(sage_stats, total_got)                                                     \
  F(sage_stats, bytes_put)                                                     \
  F(sage_stats, bytes_got)                                                     \
  F(sage_stats, high_water)                                                    \
  F(sage_stats, blocked_puts)                                                  \
  F(sage_stats, blocked_gets)                                                  \
  F(sage_stats, timeouts)                                                      \
  F(sage_stats, abandoned)                                                     \
  F(sage_stats, attached)                                                      \
  F(sage_stats, waiting_readers)                                               \
  F(sage_stats, waiting_writers)                                               \
  F(sage_stats, owner_uid)                                                     \
  F(sage_stats, creator_pid)                                                   \
  F(sage_stats, created_ns)                                                    \
  F(sage_stats, stale_attached)                                                \
  F(sage_stats, unfinished)                                                    \
  F(sage_msg, data)                                                            \
  F(sage_msg, len)                                                             \
  F(sage_transport_ops, size)                                                  \
  F(sage_transport_ops, open)                                                  \
  F(sage_transport_ops, put)                                                   \
  F(sage_transport_ops, get)                                                   \
  F(sage_transport_ops, stats)                                                 \
  F(sage_transport_ops, close)                                                 \
  F(sage_transport_ops, destroy)                                               \
  F(sage_transport_ops, put_batch)                                             \
  F(sage_transport_ops, get_batch)                                             \
  F(sage_transport_ops, reserve)                                               \
  F(sage_transport_ops, commit)                                                \
  F(sage_transport_ops, cancel)                                                \
  F(sage_transport_ops, peek)                                                  \
  F(sage_transport_ops, release)                                               \
  F(sage_transport_ops, list)                                                  \
  F(sage_transport_ops, unlink)                                                \
  F(sage_transport_ops, attachments)                                           \
  F(sage_transport_ops, depth)                                                 \
  F(sage_transport_ops, task_done)                                             \
  F(sage_transport_ops, join)                                                  \
  F(sage_transport_descriptor, abi_version)                                    \
  F(sage_transport_descriptor, size)                                           \
  F(sage_transport_descriptor, name)                                           \
  F(sage_transport_descriptor, version)                                        \
  F(sage_transport_descriptor, description)                                    \
  F(sage_transport_descriptor, capabilities)                                   \
  F(sage_transport_descriptor, ops)

#define ABI_1_0_STRUCTS(S)                                                     \
  S(sage_host)                                                                 \
  S(sage_stats)                                                                \
  S(sage_msg)                                                                  \
  S(sage_transport_ops)                                                        \
  S(sage_transport_descriptor)

#define ABI_1_0_CONSTANTS(C)                                                   \
  C(SAGE_TRANSPORT_ABI_MAJOR)                                                  \
  C(SAGE_ABI_MAJOR_OF(0x00030002u))                                            \
  C(SAGE_ABI_MINOR_OF(0x00030002u))                                            \
  C(SAGE_CAP_MPMC)                                                             \
  C(SAGE_CAP_BLOCKING)                                                         \
  C(SAGE_CAP_CROSS_PROCESS)                                                    \
  C(SAGE_CAP_CROSS_HOST)                                                       \
  C(SAGE_CAP_ZERO_COPY)                                                        \
  C(SAGE_CAP_BATCH)                                                            \
  C(SAGE_CAP_PERSISTENT)                                                       \
  C(SAGE_CAP_CRASH_SAFE)                                                       \
  C(SAGE_CAP_ITEM_BOUND)                                                       \
  C(SAGE_CAP_LIST)                                                             \
  C(SAGE_LOG_ERROR)                                                            \
  C(SAGE_LOG_WARN)                                                             \
  C(SAGE_LOG_INFO)                                                             \
  C(SAGE_LOG_DEBUG)

#endif
