#!/bin/sh
# numadvisor — the daemon and operator tools (installed by `make install`, which fills in the daemon's V8 flags
# from src/config/node-flags.ts: the daemon's idle CPU; harmless for the other commands).
exec @NODE@ @DAEMON_NODE_FLAGS@ @LIBDIR@/dist/cli/numadvisor-entry.js "$@"
