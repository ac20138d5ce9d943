
  /* --- optional (ABI 1.1: SIMULATED by tests/abi, not a real op) --- */

  /* Drops every queued message; *removed gets how many. */
  int (*purge)(sage_transport_queue *q, uint64_t *removed);
