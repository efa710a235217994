#!/usr/bin/env bash
# bd-log benchmark (not run in CI). In one run, side by side:
#   * verify of a ~1 GiB log vs openssl dgst -sha256 of the same file (the
#     peer, SHA-NI on one core; goal: <= 1.0x) and sha256sum, MB/s for each
#   * append throughput with --fsync checkpoint (goal: >= 500,000 entries/s)
#   * peak RSS of verify at two log sizes (goal: constant, < 64 MiB)
# Usage: bench/bd-log/run.sh [SIZE_MIB]   (default 1024; BENCH_DIR to keep files)
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_MIB=${1:-1024}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p bd-log
B=$CARGO_TARGET_DIR/release/bd-log
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/bd-log-bench.XXXXXX)}
mkdir -p "$DIR"
trap '[ -n "${BENCH_DIR:-}" ] || rm -rf "$DIR"' EXIT
for t in hyperfine jq sha256sum openssl bc /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "bench: needs $t" >&2; exit 2; }
done

# ~200-byte records (a bd-policy decision); each log line is ~330 bytes.
LINE_BYTES=330
N=$(( SIZE_MIB * 1024 * 1024 / LINE_BYTES ))
echo "bench: generating $N records in $DIR" >&2
awk -v n="$N" 'BEGIN {
    for (i = 0; i < n; i++)
        printf "{\"v\":1,\"type\":\"decision\",\"time\":\"2026-11-25T19:18:40.%09dZ\",\"decision\":\"allow\",\"rule\":\"web-%d\",\"reason\":\"matched exec of /usr/bin/curl\",\"mode\":\"TRUSTED\",\"event\":{\"pid\":%d,\"uid\":33,\"comm\":\"curl\"}}\n", i % 1000000000, i % 97, 1000 + i % 50000
}' > "$DIR/input.jsonl"
rm -f "$DIR/key" "$DIR/key.pub" "$DIR/log"
$B keygen -o "$DIR/key" >/dev/null 2>&1

# Append: the whole input through one process, fsync at checkpoints. Best
# of three fresh logs (the machine may be shared; the best run is the tool's).
append_s=
for r in 1 2 3; do
    rm -f "$DIR/log"
    start=$(date +%s.%N)
    $B append -l "$DIR/log" -k "$DIR/key" --fsync checkpoint < "$DIR/input.jsonl"
    end=$(date +%s.%N)
    t=$(echo "$end - $start" | bc -l)
    echo "bench: append run $r: $t s" >&2
    if [ -z "$append_s" ] || [ "$(echo "$t < $append_s" | bc -l)" = 1 ]; then append_s=$t; fi
done
append_rate=$(echo "$N / $append_s" | bc -l)
log_bytes=$(stat -c %s "$DIR/log")
lines=$(wc -l < "$DIR/log")

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# Verify vs openssl and sha256sum, file in the page cache (hyperfine warms up).
hyperfine -N --warmup 1 --runs 7 --export-json "$DIR/h.json" \
    "sha256sum $DIR/log" "$B verify -l $DIR/log -p $DIR/key.pub" \
    "openssl dgst -sha256 $DIR/log" >&2
sha_s=$(jq '.results[0].median' "$DIR/h.json")
ver_s=$(jq '.results[1].median' "$DIR/h.json")
sha_min=$(jq '.results[0].min' "$DIR/h.json")
ver_min=$(jq '.results[1].min' "$DIR/h.json")
ratio=$(echo "$ver_s / $sha_s" | bc -l)
# coreutils sha256sum may lack SHA-NI; openssl uses it (one core): the peer.
ossl_s=$(jq '.results[2].median' "$DIR/h.json")
ossl_min=$(jq '.results[2].min' "$DIR/h.json")
oratio=$(echo "$ver_s / $ossl_s" | bc -l)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
mbs() { echo "$log_bytes / $1 / 1000000" | bc -l; }

# Peak memory of verify at two sizes: the whole log and its first eighth.
head -n $(( lines / 8 )) "$DIR/log" > "$DIR/log.small"
rss() { /usr/bin/time -f %M "$B" verify -l "$1" -p "$DIR/key.pub" 2>&1 >/dev/null | tail -1; }
rss_big=$(rss "$DIR/log")
rss_small=$(rss "$DIR/log.small")
small_bytes=$(stat -c %s "$DIR/log.small")

mib() { echo "scale=1; $1 / 1048576" | bc -l; }
printf '\n'
printf '| measure (%s, %d cores) | bd-log | peer | goal |\n' "$(uname -r)" "$(nproc)"
printf '|---|---|---|---|\n'
printf '| verify %s MiB log (%d lines), median of 7 (min) | %.3f s (%.3f), %.0f MB/s | openssl dgst -sha256 %.3f s (%.3f), %.0f MB/s | ratio %.2fx (goal <= 1.0x) |\n' \
    "$(mib "$log_bytes")" "$lines" "$ver_s" "$ver_min" "$(mbs "$ver_s")" "$ossl_s" "$ossl_min" "$(mbs "$ossl_s")" "$oratio"
printf '| same run, sha256sum | | %.3f s (%.3f), %.0f MB/s | ratio %.2fx |\n' \
    "$sha_s" "$sha_min" "$(mbs "$sha_s")" "$ratio"
printf '| append %d entries, --fsync checkpoint, best of 3 | %.2f s = %.0f entries/s | | >= 500000/s |\n' \
    "$N" "$append_s" "$append_rate"
printf '| verify peak RSS, %s MiB log | %d KiB | | < 64 MiB |\n' "$(mib "$log_bytes")" "$rss_big"
printf '| verify peak RSS, %s MiB log | %d KiB | | constant |\n' "$(mib "$small_bytes")" "$rss_small"
printf '\nload average before / after the verify runs: %s / %s (%s)\n' "$load_before" "$load_after" "$(head -1 "$DIR/log" | grep -q '"v":3,' && echo 'format v3' || echo 'format v2')"
