#!/usr/bin/env python3
"""The Python path a user would otherwise take: torch.load + safetensors.torch.save_file.

    python python_convert.py IN.pt OUT.safetensors [--mmap] [--fsync]

Only for our own trusted checkpoints (torch.load with weights_only=True, the
default since torch 2.6). Prints the time of the load and save phases
(interpreter start and `import torch` are outside them).
"""
import argparse
import os
import sys
import time

t0 = time.perf_counter()
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("inp")
ap.add_argument("out")
ap.add_argument("--mmap", action="store_true", help="torch.load(mmap=True)")
ap.add_argument(
    "--fsync",
    action="store_true",
    help="fsync the output after saving (tensorseal's atomic commit does; save_file does not)",
)
a = ap.parse_args()
t1 = time.perf_counter()
sd = torch.load(a.inp, map_location="cpu", weights_only=True, mmap=a.mmap)
t2 = time.perf_counter()
save_file(sd, a.out)
if a.fsync:
    fd = os.open(a.out, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
t3 = time.perf_counter()
print(
    f"import {t1 - t0:.3f}s load {t2 - t1:.3f}s save {t3 - t2:.3f}s load+save {t3 - t1:.3f}s",
    file=sys.stderr,
)
