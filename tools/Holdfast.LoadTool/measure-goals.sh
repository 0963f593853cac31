#!/usr/bin/env bash
# Measures the storage goals of docs/benchmarks.md on this machine and prints one JSON line per run.
#
#   tools/Holdfast.LoadTool/measure-goals.sh DIR [ROUNDS]
#
# DIR must be on the disk under test (not tmpfs) and must not exist yet; it is removed at the end.
# Each round runs the raw fsync baseline next to the group-commit scenario it is compared with, and
# dd next to the async scenario, so a ratio never mixes figures from different moments: on a shared
# or virtual disk the raw rates drift by several times within minutes. Before every run the page
# cache is written back (and dropped, when root), so one run's dirty data does not slow the next.
set -euo pipefail

dir=${1:?usage: measure-goals.sh DIR [ROUNDS]}
rounds=${2:-3}
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [ -e "$dir" ]; then
    echo "measure-goals: $dir exists; give a new directory (it is deleted afterwards)" >&2
    exit 2
fi

dotnet build -c Release "$repo/tools/Holdfast.LoadTool" >&2
tool="$repo/tools/Holdfast.LoadTool/bin/Release/net10.0/holdfast-load"
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT

settle() {
    sync
    if [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; fi
}

storage() {
    settle
    "$tool" storage --dir "$dir/run" --seconds 10 --warmup 2 "$@"
}

# dd's own summary line, as JSON: scenario, bytes, seconds, MiB/s.
dd_json() {
    local scenario=$1
    shift
    settle
    local line
    line=$(dd if=/dev/zero of="$dir/dd.bin" bs=1M count=2048 "$@" 2>&1 | tail -1)
    rm -f "$dir/dd.bin"
    echo "$line" | awk -v s="$scenario" '{ printf "{\"scenario\":\"%s\",\"bytes\":%s,\"seconds\":%s,\"mib_per_s\":%.1f}\n", s, $1, $(NF-3), $1 / $(NF-3) / 1048576 }'
}

for round in $(seq 1 "$rounds"); do
    echo "measure-goals: round $round of $rounds" >&2
    storage --baseline-fsync --size 1024
    storage --policy sync --writers 16 --in-flight 1 --size 1024
    storage --baseline-fsync --baseline-written --size 1024
    storage --policy sync --writers 4 --in-flight 256 --size 1024
    dd_json dd-direct oflag=direct
    dd_json dd-fdatasync conv=fdatasync
    storage --policy async --writers 4 --in-flight 256 --size 1024
done

for round in $(seq 1 "$rounds"); do
    settle
    "$tool" recovery --dir "$dir/recovery" --records 1000000 --size 1000
    settle
    "$tool" recovery --dir "$dir/recovery" --records 1000000 --size 1000 --drop-caches
done
