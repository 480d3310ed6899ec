#!/bin/sh
# numadvisor — the daemon and operator tools (installed by `make install`).
exec @NODE@ @LIBDIR@/dist/cli/numadvisor-entry.js "$@"
