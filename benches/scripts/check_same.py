#!/usr/bin/env python3
"""Check that every tensor of a tensorseal container is byte-identical to a
reference read by the reference library, and 64-byte aligned.

    python check_same.py CONTAINER.tseal REFERENCE.safetensors [--torch CKPT.pt] [--tensorseal BIN]

The container is listed with `tensorseal ls --json --allow-unsigned` (name, dtype,
shape, absolute offset, length) and its bytes are read straight from the file.
The reference tensors come from `safetensors.safe_open` (framework="pt") and,
with --torch, also from `torch.load(weights_only=True)` of our own trusted file.
"""
import argparse
import json
import subprocess
import sys

import torch
from safetensors import safe_open

ST_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}

ap = argparse.ArgumentParser()
ap.add_argument("container")
ap.add_argument("reference")
ap.add_argument("--torch", dest="torch_ckpt")
ap.add_argument("--tensorseal", default="tensorseal")
a = ap.parse_args()

listing = json.loads(subprocess.run(
    [a.tensorseal, "ls", a.container, "--json", "--allow-unsigned"],
    check=True, capture_output=True, text=True).stdout)
entries = {t["name"]: t for t in listing["tensors"]}
raw = open(a.container, "rb").read()


def tensor_bytes(t):
    t = t.contiguous()
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


def compare(label, ref):
    bad = []
    if set(ref) != set(entries):
        bad.append(f"name sets differ: only in {label}: {sorted(set(ref) - set(entries))[:5]}, "
                   f"only in container: {sorted(set(entries) - set(ref))[:5]}")
    for name, t in ref.items():
        e = entries.get(name)
        if e is None:
            continue
        want = tensor_bytes(t)
        got = raw[e["offset"]:e["offset"] + e["length"]]
        if e["offset"] % 64:
            bad.append(f"{name}: offset {e['offset']} not 64-byte aligned")
        if e["dtype"] != ST_DTYPES.get(t.dtype):
            bad.append(f"{name}: dtype {e['dtype']} vs {t.dtype}")
        if list(e["shape"]) != list(t.shape):
            bad.append(f"{name}: shape {e['shape']} vs {list(t.shape)}")
        if got != want:
            bad.append(f"{name}: bytes differ")
    n = len(ref)
    size = sum(e["length"] for e in entries.values())
    if bad:
        print(f"FAIL {a.container} vs {label}: {len(bad)} problem(s)")
        for b in bad[:20]:
            print("  " + b)
        return False
    print(f"OK   {a.container} vs {label}: {n} tensors, {size} bytes, every tensor "
          f"byte-identical (name, dtype, shape, bytes) and 64-byte aligned")
    return True


ok = True
with safe_open(a.reference, framework="pt") as f:
    ref = {k: f.get_tensor(k) for k in f.keys()}
ok &= compare(f"safetensors:{a.reference}", ref)
if a.torch_ckpt:
    ok &= compare(f"torch.load:{a.torch_ckpt}", torch.load(a.torch_ckpt, map_location="cpu", weights_only=True))
sys.exit(0 if ok else 1)
