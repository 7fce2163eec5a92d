#!/usr/bin/env bash
# reliability.sh: what ossmount does when the network, the server, the disk
# or the user misbehave. The built ossmount, through real FUSE mounts and
# materialize runs, against the local server's faults (503s, cut bodies,
# stalls, flipped bytes, wrong CRC headers, an object replaced mid-read),
# a cache on a full tmpfs, a cache directory removed under a running mount,
# kill -9 of the mount and of materialize at random moments, and bad inputs
# to the CLI. Every run has a deadline; a run past it is killed and counted
# as hung. Prints two Markdown tables: per fault, the runs, the wrong bytes
# returned or installed (compared with the source), the hung runs, the runs
# that failed, and the bytes fetched beyond what the runs needed; per bad
# input, the exit code and the first line of the message.
#
# Needs root and /dev/fuse (tmpfs and FUSE mounts). About 5 minutes on 2 cores.
#
# Environment:
#   OSSMOUNT_RELIABILITY_KILLS  kill -9 rounds of the mount and of materialize each (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp)
log=$(mktemp)
trap 'rm -f "$out" "$log"' EXIT

echo "Running TestReliabilityFigures ($(date -u +%Y-%m-%d), $(nproc) cores)..." >&2
if ! OSSMOUNT_RELIABILITY=1 OSSMOUNT_REQUIRE_FUSE=1 OSSMOUNT_RELIABILITY_OUT="$out" \
	go test ./integration -run '^TestReliabilityFigures$' -count 1 -timeout 20m >"$log" 2>&1; then
	cat "$log" >&2
	echo "reliability.sh: the run failed" >&2
	exit 1
fi
if [ ! -s "$out" ]; then
	cat "$log" >&2
	echo "reliability.sh: no table was written (skipped? it needs root and /dev/fuse)" >&2
	exit 1
fi
cat "$out"
