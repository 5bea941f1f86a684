#!/usr/bin/env bash
# `tensorseal verify` of the 1 GiB container against one core of OpenSSL SHA-256
# over the same file, side by side with hyperfine.
# Env: TS (release tensorseal binary), FIXTURE (release bench-fixture binary),
#      TENSORSEAL_BENCH_DIR (where the container lives), RUNS (default 10).
set -euo pipefail
TS=${TS:-tensorseal}
FIXTURE=${FIXTURE:-bench-fixture}
RUNS=${RUNS:-10}
F=$("$FIXTURE")
ls -l "$F"
openssl version
grep -q -m1 sha_ni /proc/cpuinfo && echo "cpu: sha_ni present" || echo "cpu: no sha_ni"
hyperfine --warmup 2 --runs "$RUNS" --export-json "${F%.tseal}-hyperfine.json" \
  "openssl dgst -sha256 $F" \
  "$TS verify $F --allow-unsigned"
