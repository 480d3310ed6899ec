#!/bin/sh
# numad — the command libvirt runs as `/usr/bin/numad -w <vcpus>:<MiB>`.
#
# Fast path: for exactly `-w V` or `-w V:M` with plain integers (what libvirt sends) and a daemon socket present,
# ask the daemon with curl and print its one-line nodeset: ~4 ms instead of Node's ~60 ms start. Anything else —
# other options, other number forms, no daemon, a failed or slow answer, an answer that is not a nodeset — goes to
# the Node.js client, which implements all of numad's options and answers locally when no daemon can.
# `make install` replaces @NODE@ and @LIBDIR@; in a source tree both are found from this file's location.
NODE='@NODE@'
LIBDIR='@LIBDIR@'
case $NODE in @*) NODE=node ;; esac
case $LIBDIR in @*) LIBDIR=$(dirname "$(readlink -f "$0")")/../.. ;; esac
CURL=${NUMADVISOR_CURL:-/usr/bin/curl}

is_nodeset() {
	case $1 in '' | ,* | *, | *,,*) return 1 ;; esac
	old_ifs=$IFS
	IFS=,
	for part in $1; do
		case $part in '' | *[!0-9-]* | -* | *- | *-*-*) IFS=$old_ifs; return 1 ;; esac
	done
	IFS=$old_ifs
	return 0
}

if [ $# -eq 2 ] && [ "$1" = "-w" ] && [ -x "$CURL" ]; then
	case $2 in
	'' | *[!0-9:]* | :* | *: | *:*:*) ;;
	*)
		cpus=${2%%:*}
		case $2 in *:*) mem=${2#*:} ;; *) mem=0 ;; esac
		sock=${NUMADVISOR_SOCKET:-/run/numadvisor/numadvisor.sock}
		if [ -S "$sock" ] && [ ${#cpus} -le 7 ] && [ ${#mem} -le 16 ]; then
			out=$("$CURL" -sf --connect-timeout 0.25 --max-time 1 --unix-socket "$sock" \
				"http://localhost/v1/advice?cpus=$cpus&mem=$mem&client=numad%20-w&format=nodeset" 2>/dev/null)
			if [ $? -eq 0 ] && is_nodeset "$out"; then
				printf '%s\n' "$out"
				exit 0
			fi
		fi
		;;
	esac
fi
NUMAD_ARGV0=${NUMAD_ARGV0:-numad} exec "$NODE" "$LIBDIR/dist/cli/numad-entry.js" "$@"
