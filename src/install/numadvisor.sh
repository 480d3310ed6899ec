#!/bin/sh
# numadvisor — the daemon and operator tools (installed by `make install`).
# --no-memory-reducer: see src/config/node-flags.ts (the daemon's idle CPU); harmless for the other commands.
exec @NODE@ --no-memory-reducer @LIBDIR@/dist/cli/numadvisor-entry.js "$@"
