#!/usr/bin/env bash
# fetch.sh: how fast parallel rangefetch.ReadRange calls download one large object,
# next to the aliyun SDK's DownloadFile, bare parallel SDK GETs, the v2 SDK's
# Downloader and the ideal time, all against the same local OSS server
# shaped to 15 ms to first byte and 32 MiB/s per response (16 streams,
# 8 MiB parts). Prints a Markdown table.
#
# Environment:
#   OSSMOUNT_BENCH_MB      object size in MiB (default 1024)
#   OSSMOUNT_BENCH_ROUNDS  timed runs per method; the median is reported (default 3)
#   OSSMOUNT_BENCH_DIR     where downloads land (default /dev/shm, else a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "Running BenchmarkFetch (object ${OSSMOUNT_BENCH_MB:-1024} MiB, ${OSSMOUNT_BENCH_ROUNDS:-3} rounds)..." >&2
if ! go test ./rangefetch -run '^$' -bench '^BenchmarkFetch$' -benchtime 1x -count 1 -timeout 30m >"$out" 2>&1; then
	cat "$out" >&2
	echo "fetch.sh: benchmark failed" >&2
	exit 1
fi

# Lines look like:
# BenchmarkFetch/rangefetch-2   1   275905610 ns/op   486.46 MB/s   0.2759 sec
awk '
/^BenchmarkFetch\// {
	name = $1
	sub(/^BenchmarkFetch\//, "", name)
	sub(/-[0-9]+$/, "", name)
	sec = ""; mbs = ""
	for (i = 2; i < NF; i++) {
		if ($(i+1) == "sec") sec = $i
		if ($(i+1) == "MB/s") mbs = $i
	}
	order[++n] = name; secs[name] = sec; rate[name] = mbs
}
END {
	if (!("rangefetch" in secs) || !("ideal" in secs)) {
		print "fetch.sh: no benchmark results found" > "/dev/stderr"
		exit 1
	}
	ours = secs["rangefetch"]; ideal = secs["ideal"]
	print "| method | time (s) | MB/s | ideal_time / time | time / rangefetch_time |"
	print "|---|---:|---:|---:|---:|"
	for (i = 1; i <= n; i++) {
		m = order[i]
		printf "| %s | %.3f | %.1f | %.2f | %.2fx |\n", m, secs[m], rate[m], ideal / secs[m], secs[m] / ours
	}
	print ""
	printf "rangefetch vs SDK DownloadFile: %.2fx faster (sdk_time/our_time; goal >= 1.2x)\n", secs["sdk-downloadfile"] / ours
	printf "rangefetch vs ideal: %.0f%% of ideal throughput (ideal_time/our_time = %.2f)\n", 100 * ideal / ours, ideal / ours
}' "$out"
