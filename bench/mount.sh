#!/usr/bin/env bash
# mount.sh: how fast a large object reads through "ossmount mount", cold
# (nothing cached) and warm (after a remount, page cache dropped), next to a
# plain read of a local file holding the same bytes and the aliyun SDK's
# DownloadFile (16 routines, 8 MiB parts, checkpoint on), all against one
# local OSS server ("ossmount serve") shaped to 15 ms to first byte and
# 32 MiB/s per response. Also reports the peak RSS (VmHWM) of the mount
# process while it reads the object cold. Prints a Markdown table.
#
# Timings on a shared machine vary by 10-20% from run to run, so the cold
# read and DownloadFile are each run three times, alternating, and the
# median is reported (each cold run on an empty cache and a fresh mount);
# local and warm reads report the best of three.
#
# Run as root (drop_caches, FUSE passthrough). Environment:
#   OSSMOUNT_BENCH_MB    object size in MiB (default 1024)
#   OSSMOUNT_BENCH_DIR   where the cache, the mount point and the download
#                        live (default $TMPDIR or /tmp: a disk, as a
#                        persistent cache would be; /dev/shm takes the
#                        disk out of the comparison)
#   OSSMOUNT_BENCH_CONNS connections of the mount (--max-parallel; default:
#                        the mount's default)
#   OSSMOUNT_BENCH_FLAGS more flags for "ossmount mount", e.g. "--read-ahead 256MiB"
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb=${OSSMOUNT_BENCH_MB:-1024}
conns=${OSSMOUNT_BENCH_CONNS:-}
base=${OSSMOUNT_BENCH_DIR:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$base/ossmount-bench.XXXXXX")
data=$(mktemp -d "${TMPDIR:-/tmp}/ossmount-bench-data.XXXXXX")
mnt=$work/mnt
cache=$work/cache
bin=$work/bin
mkdir -p "$mnt" "$bin" "$data/bench"

server_pid=
cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then "$bin/ossmount" unmount --lazy "$mnt" >/dev/null 2>&1 || true; fi
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
	rm -rf "$work" "$data"
}
trap cleanup EXIT

drop_caches() {
	sync
	if [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}

# warm_server reads the server's copy of the object back into memory after
# the page cache was dropped, so that the server answers at the shaped
# speed (as OSS would) rather than at the speed of this machine's disk.
warm_server() { cat "$data/bench/big.bin" >/dev/null; }

# now prints the time in seconds with nanoseconds.
now() { date +%s.%N; }

echo "building..." >&2
go build -o "$bin/ossmount" ./cmd/ossmount
go build -o "$bin/sdkdownload" ./bench/sdkdownload

echo "writing a ${size_mb} MiB object..." >&2
head -c "$((size_mb * 1024 * 1024))" /dev/urandom >"$data/bench/big.bin"

OSS_ACCESS_KEY_ID=bench
OSS_ACCESS_KEY_SECRET=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export OSS_ACCESS_KEY_ID OSS_ACCESS_KEY_SECRET
"$bin/ossmount" serve --root "$data" --addr 127.0.0.1:0 --latency 15ms --bandwidth 32MiB >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
endpoint=
for _ in $(seq 1 100); do
	endpoint=$(grep -o 'http://[0-9.:]*' "$work/serve.out" | head -1 || true)
	[ -n "$endpoint" ] && break
	sleep 0.1
done
[ -n "$endpoint" ] || { cat "$work/serve.err" >&2; echo "mount.sh: server did not start" >&2; exit 1; }

mount_bucket() {
	"$bin/ossmount" mount --endpoint "$endpoint" --region cn-hangzhou --cache-dir "$cache" \
		${conns:+--max-parallel "$conns"} ${OSSMOUNT_BENCH_FLAGS:-} oss://bench "$mnt" | sed -n 's/.*(pid \([0-9]*\),.*/\1/p'
}

# median prints the middle of its three arguments.
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

# best_cat FILE prints the best of three timed_cat runs, each after the
# page cache was dropped (reads of local data are short and noisy).
best_cat() {
	local best= t
	for _ in 1 2 3; do
		drop_caches
		t=$(timed_cat "$1")
		if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
	done
	echo "$best"
}

# timed_cat FILE prints the seconds "cat FILE > /dev/null" takes.
timed_cat() {
	local t0 t1
	t0=$(now)
	cat "$1" >/dev/null
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}

# cold_run mounts an empty cache, reads the object once and records the
# time, the peak RSS and the CPU time of the mount process.
cold_run() {
	rm -rf "$cache"
	local pid
	pid=$(mount_bucket)
	drop_caches
	warm_server
	colds+=("$(timed_cat "$mnt/big.bin")")
	hwms+=("$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")")
	cpus+=("$(awk '{print $14 + $15}' "/proc/$pid/stat")")
	"$bin/ossmount" unmount "$mnt" >/dev/null
}

# sdk_run downloads the object once with the SDK's DownloadFile and records
# the time and the CPU time.
sdk_run() {
	rm -f "$work/download.bin"
	drop_caches
	warm_server
	/usr/bin/time -f "%U %S" -o "$work/sdk.cpu" "$bin/sdkdownload" -endpoint "$endpoint" -bucket bench -key big.bin \
		-dest "$work/download.bin" -routines 16 -part-size $((8 << 20)) >"$work/sdk.out"
	sdks+=("$(cat "$work/sdk.out")")
	sdkcpus+=("$(awk '{print $1 + $2}' "$work/sdk.cpu")")
	cmp "$work/download.bin" "$data/bench/big.bin" || { echo "mount.sh: DownloadFile returned wrong bytes" >&2; exit 1; }
}

colds=() hwms=() cpus=() sdks=() sdkcpus=()
# The server's first request for an object costs extra (it computes the
# object's CRC64, and its file was just written): one untimed download
# first.
echo "warming the server..." >&2
sdk_run
sdks=() sdkcpus=()
for round in 1 2 3; do
	echo "cold read through the mount ($round of 3)..." >&2
	cold_run
	echo "SDK DownloadFile ($round of 3)..." >&2
	sdk_run
done
cold=$(median "${colds[@]}")
sdk=$(median "${sdks[@]}")
hwm_kb=$(printf '%s\n' "${hwms[@]}" | sort -g | tail -1)
cpu_ticks=$(median "${cpus[@]}")
sdk_cpu=$(median "${sdkcpus[@]}")

# The last cold run left the object complete in the cache (the unmount
# records every block it read): the warm read starts from there.
echo "warm read after a remount..." >&2
pid=$(mount_bucket)
warm=$(best_cat "$mnt/big.bin")
cmp "$mnt/big.bin" "$data/bench/big.bin" || { echo "mount.sh: the mount returned wrong bytes" >&2; exit 1; }
"$bin/ossmount" unmount "$mnt" >/dev/null

echo "local file read..." >&2
local_file=$(find "$cache/data" -type f -size "$((size_mb * 1024 * 1024))c" | head -1)
[ -n "$local_file" ] || { echo "mount.sh: no complete data file in the cache" >&2; exit 1; }
local_read=$(best_cat "$local_file")

fs_type=$(df -PT "$work" | awk 'NR==2 {print $2}')
# The connections the mount used: the flag, or its default as --help says.
used_conns=${conns:-$("$bin/ossmount" mount --help | sed -n 's/.*--max-parallel int .*(default \([0-9]*\)).*/\1/p')}
awk -v size="$size_mb" -v cold="$cold" -v warm="$warm" -v loc="$local_read" -v sdk="$sdk" \
	-v hwm="$hwm_kb" -v cpu="$cpu_ticks" -v sdkcpu="$sdk_cpu" -v hz="$(getconf CLK_TCK)" -v ncpu="$(nproc)" -v conns="$used_conns" -v colds="${colds[*]}" -v sdks="${sdks[*]}" -v fs="$fs_type" -v pt="$( [ "$(id -u)" = 0 ] && echo yes || echo no)" 'BEGIN {
	mib = size
	printf "Object %d MiB; server: 15 ms to first byte, 32 MiB/s per response; mount --max-parallel %s; cache on %s; root: %s\n", size, conns, fs, pt
	printf "cold runs: %s s; DownloadFile runs: %s s\n\n", colds, sdks
	print "| read | time (s) | MiB/s | ratio |"
	print "|---|---:|---:|---:|"
	printf "| SDK DownloadFile (16 routines, 8 MiB parts), median of 3 | %.3f | %.1f | 1.00x (baseline) |\n", sdk, mib / sdk
	printf "| cold cat through the mount, median of 3 | %.3f | %.1f | %.2fx DownloadFile |\n", cold, mib / cold, sdk / cold
	# What the shaped server allows: every connection busy at 32 MiB/s
	# from the first byte (15 ms) on.
	n = conns
	i16 = 0.015 + mib / (16 * 32); idn = 0.015 + mib / (n * 32)
	printf "| ideal, 16 connections x 32 MiB/s | %.3f | %.1f | %.2fx DownloadFile |\n", i16, mib / i16, sdk / i16
	printf "| ideal, %d connections x 32 MiB/s (the mount'"'"'s) | %.3f | %.1f | %.2fx DownloadFile |\n", n, idn, mib / idn, sdk / idn
	printf "| local file (the cache data file), page cache dropped, best of 3 | %.3f | %.1f | 1.00x (baseline) |\n", loc, mib / loc
	printf "| warm cat after remount, page cache dropped, best of 3 | %.3f | %.1f | %.2fx local file |\n", warm, mib / warm, loc / warm
	printf "\nPeak RSS of the mount process (VmHWM) during a cold read, highest of 3: %.1f MiB\n", hwm / 1024
	printf "CPU time (medians): mount process during a cold read %.2f s, DownloadFile %.2f s (this machine has %d CPUs)\n\n", cpu / hz, sdkcpu, ncpu
	c = sdk / cold; w = loc / warm
	printf "cold >= 1.2x DownloadFile: %.2fx: %s\n", c, (c >= 1.2 ? "met" : "NOT met")
	printf "warm >= 0.95x local file: %.2fx: %s\n", w, (w >= 0.95 ? "met" : "NOT met")
	printf "peak RSS <= 200 MiB: %.1f MiB: %s\n", hwm / 1024, (hwm / 1024 <= 200 ? "met" : "NOT met")
}'
