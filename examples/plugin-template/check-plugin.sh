#!/bin/sh
# Runs the SAGE Queue conformance suite on the freshly built plugin with the
# installed `sage-queue check-plugin`. Skipped (77) where sage-queue is not
# found or too old to have check-plugin.
if [ -z "${SAGE_QUEUE:-}" ] || [ ! -x "$SAGE_QUEUE" ]; then
  echo "sage-queue not found: skipping"
  exit 77
fi
if ! "$SAGE_QUEUE" --help 2>&1 | grep -q check-plugin; then
  echo "$SAGE_QUEUE has no check-plugin command: skipping"
  exit 77
fi
exec "$SAGE_QUEUE" check-plugin "$PLUGIN"
