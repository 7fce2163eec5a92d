#!/usr/bin/env bash
# Benchmarks of the cache package against plain file I/O on the same disk,
# printed as a Markdown table with ratios:
#   fill  - an object filled into the cache from RAM, durably (pwrite,
#           fdatasync, index), vs pwrite of the same bytes + one fsync
#   read  - present blocks read through Handle.ReadAt in 128 KiB reads
#           (CRC checked on each block's first read since open), vs pread
#           of the same data file
#   open  - opening a cache of 100,000 versions, and the background scan
#           that counts them
#
# Usage: bench/cache.sh [DIR]
#   DIR defaults to a temporary directory; both sides of every ratio use it.
#   OSSMOUNT_BENCH_SIZE  object size in bytes (default 1 GiB)
#   BENCHTIME            iterations per benchmark (default 5x)
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dir=${1:-$work/data}
mkdir -p "$dir"
export OSSMOUNT_BENCH_DIR=$dir
benchtime=${BENCHTIME:-5x}
size=${OSSMOUNT_BENCH_SIZE:-$((1 << 30))}
export OSSMOUNT_BENCH_SIZE=$size

go test -c -o "$work/cache.test" ./cache

# run NAME: one benchmark in its own process (so peak RSS is its own);
# prints its result line.
run() {
	"$work/cache.test" -test.run '^$' -test.bench "^$1\$" -test.benchtime "$benchtime" -test.count 1 |
		grep "^$1" | tail -1
}

# metric LINE UNIT: the value before UNIT in a benchmark line.
metric() {
	awk -v unit="$2" '{ for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1) }' <<<"$1"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

echo "running cache benchmarks in $dir (object size $((size >> 20)) MiB, $benchtime each)..." >&2
fill=$(run BenchmarkFillCache)
pwrite=$(run BenchmarkFillPwrite)
read=$(run BenchmarkReadCache)
readv=$(run BenchmarkReadCacheVerify)
pread=$(run BenchmarkReadPread)
open=$(run BenchmarkOpen100k)

fill_mb=$(metric "$fill" MB/s)
pwrite_mb=$(metric "$pwrite" MB/s)
read_mb=$(metric "$read" MB/s)
readv_mb=$(metric "$readv" MB/s)
pread_mb=$(metric "$pread" MB/s)
open_ms=$(awk '{ printf "%.1f", $3 / 1e6 }' <<<"$open")
scan_ms=$(metric "$open" scan-ms)

echo
echo "| benchmark | ossmount cache | baseline | ratio | goal |"
echo "|---|---|---|---|---|"
echo "| fill $((size >> 20)) MiB from RAM, durable | $fill_mb MB/s | $pwrite_mb MB/s (pwrite + one fsync) | $(ratio "$fill_mb" "$pwrite_mb") | >= 0.8x |"
echo "| read present blocks, 128 KiB ReadAt | $read_mb MB/s | $pread_mb MB/s (pread) | $(ratio "$read_mb" "$pread_mb") | >= 0.9x |"
echo "| first read after open (CRC of every block) | $readv_mb MB/s | $pread_mb MB/s (pread) | $(ratio "$readv_mb" "$pread_mb") | - |"
echo "| open a cache of 100,000 versions | $open_ms ms | - | - | fast |"
echo "| background scan of 100,000 versions | $scan_ms ms | - | - | - |"
echo
echo "Peak RSS (VmHWM): fill $(metric "$fill" peak-rss-MB) MB (includes the 64 MiB source buffer), open+scan of 100,000 versions $(metric "$open" peak-rss-MB) MB."
