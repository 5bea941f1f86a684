#!/usr/bin/env bash
# Conversion of a 1 GiB torch.save checkpoint: `tensorseal convert` (release CLI)
# against torch.load + safetensors.torch.save_file, wall time and peak memory.
# Env: PY (python with torch + safetensors), TS (release tensorseal binary),
#      OUT (work dir, holds the checkpoint), DEST (where outputs go; default $OUT,
#      e.g. /dev/shm/x to take the disk and tensorseal's fsync out), RUNS (default 3).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-python3}
TS=${TS:-tensorseal}
OUT=${OUT:-${TMPDIR:-/tmp}/tensorseal-bench}
RUNS=${RUNS:-3}
DEST=${DEST:-$OUT}
mkdir -p "$OUT" "$DEST"
echo "outputs in $DEST ($(df --output=fstype "$DEST" | tail -1))"
CK="$OUT/ckpt-1gib.pt"
[ -f "$CK" ] || "$PY" "$HERE/make_checkpoint.py" "$CK" --gib 1
ls -l "$CK"
cat "$CK" > /dev/null   # into the page cache for every contender
echo "== tensorseal convert"
"$PY" "$HERE/memtime.py" --runs "$RUNS" -- "$TS" convert "$CK" -o "$DEST/ckpt.tseal" --force
echo "== python: torch.load + safetensors.torch.save_file"
"$PY" "$HERE/memtime.py" --runs "$RUNS" -- "$PY" "$HERE/python_convert.py" "$CK" "$DEST/ckpt.safetensors"
echo "== python: torch.load + save_file + fsync of the output (durable, like tensorseal)"
"$PY" "$HERE/memtime.py" --runs "$RUNS" -- "$PY" "$HERE/python_convert.py" "$CK" "$DEST/ckpt-fsync.safetensors" --fsync
echo "== python: torch.load(mmap=True) + save_file"
"$PY" "$HERE/memtime.py" --runs "$RUNS" -- "$PY" "$HERE/python_convert.py" "$CK" "$DEST/ckpt-mmap.safetensors" --mmap
echo "== python: import torch + safetensors only (interpreter floor)"
"$PY" "$HERE/memtime.py" --runs "$RUNS" -- "$PY" -c "import torch, safetensors.torch"
echo "== /usr/bin/time -v, one run each"
/usr/bin/time -v "$TS" convert "$CK" -o "$DEST/ckpt.tseal" --force 2>&1 | grep -E "Elapsed|Maximum resident|wrote"
/usr/bin/time -v "$PY" "$HERE/python_convert.py" "$CK" "$DEST/ckpt.safetensors" 2>&1 | grep -E "Elapsed|Maximum resident|load\+save"
echo "== same tensors?"
"$PY" "$HERE/check_same.py" "$DEST/ckpt.tseal" "$DEST/ckpt.safetensors" --tensorseal "$TS"
rm -f "$DEST/ckpt.tseal" "$DEST/ckpt.safetensors" "$DEST/ckpt-mmap.safetensors" "$DEST/ckpt-fsync.safetensors"
