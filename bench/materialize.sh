#!/usr/bin/env bash
# materialize.sh: how fast "ossmount materialize" makes a large object local,
# cold and fully cached, next to the aliyun SDK's DownloadFile (16 routines,
# 8 MiB parts, checkpoint on) and bare parallel SDK GETs, all against one
# local OSS server shaped to 15 ms to first byte and 32 MiB/s per response.
# Prints a Markdown table with ratios, then the goals and whether they hold,
# then every timed round (methods interleaved; the table has the medians).
#
# The server runs in the benchmark's process, so the CPU column is the CPU
# time of server and client together for one run: on a machine with few
# cores that, not the network, sets the pace.
#
# Environment:
#   OSSMOUNT_BENCH_MB       object size in MiB (default 1024)
#   OSSMOUNT_BENCH_ROUNDS   timed runs per method; the median is reported (default 3)
#   OSSMOUNT_BENCH_DIR      where caches and outputs live (default /dev/shm, else a temp dir)
#   OSSMOUNT_BENCH_METHODS  comma-separated methods to run (default all)
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "Running BenchmarkMaterialize (object ${OSSMOUNT_BENCH_MB:-1024} MiB, ${OSSMOUNT_BENCH_ROUNDS:-3} rounds)..." >&2
if ! go test ./integration -run '^$' -bench '^BenchmarkMaterialize$' -benchtime 1x -count 1 -timeout 60m >"$out" 2>&1; then
	cat "$out" >&2
	echo "materialize.sh: benchmark failed" >&2
	exit 1
fi

# Lines look like:
# BenchmarkMaterialize/materialize-cold-2  1  1234 ns/op  870.1 MB/s  1.234 sec  2.1 cpu-sec  1073741824 fetched-bytes  1073741824 object-bytes
awk '
/^BenchmarkMaterialize\// {
	name = $1
	sub(/^BenchmarkMaterialize\//, "", name)
	sub(/-[0-9]+$/, "", name)
	for (i = 2; i < NF; i++) {
		if ($(i+1) == "sec") sec[name] = $i
		if ($(i+1) == "cpu-sec") cpu[name] = $i
		if ($(i+1) == "MB/s") rate[name] = $i
		if ($(i+1) == "fetched-bytes") got[name] = $i
		if ($(i+1) == "object-bytes") size = $i
	}
	order[++n] = name
}
END {
	if (n == 0) {
		print "materialize.sh: no benchmark results found" > "/dev/stderr"
		exit 1
	}
	sdk = sec["sdk-downloadfile"]
	gib = size / 1073741824
	print "| method | time (s) | MB/s | CPU (s) | object bytes fetched | s per GiB | speed vs DownloadFile |"
	print "|---|---:|---:|---:|---:|---:|---:|"
	for (i = 1; i <= n; i++) {
		m = order[i]
		ratio = (sdk > 0 ? sprintf("%.2fx", sdk / sec[m]) : "-")
		printf "| %s | %.3f | %.1f | %.2f | %d | %.3f | %s |\n", m, sec[m], rate[m], cpu[m], got[m], sec[m] / gib, ratio
	}
	print ""
	if (sdk > 0 && ("materialize-cold" in sec)) {
		cold = sdk / sec["materialize-cold"]
		printf "cold materialize vs DownloadFile: %.2fx (goal >= 1.2x): %s\n", cold, (cold >= 1.2 ? "met" : "NOT met")
	}
	if ("materialize-cached-move" in sec) {
		move = sec["materialize-cached-move"] / gib
		printf "fully cached (same filesystem): %d object bytes, %.3f s per GiB (goal 0 bytes, < 0.1 s): %s\n",
			got["materialize-cached-move"], move, (got["materialize-cached-move"] == 0 && move < 0.1 ? "met" : "NOT met")
	}
	if ("materialize-cached-keep" in sec) {
		printf "fully cached with --keep-cache (reflink or copy): %d object bytes, %.3f s per GiB\n",
			got["materialize-cached-keep"], sec["materialize-cached-keep"] / gib
	}
}' "$out"
echo
echo "Rounds:"
grep '^round ' "$out" || true
