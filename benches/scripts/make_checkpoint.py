#!/usr/bin/env python3
"""Write a float32 state dict of at least SIZE GiB (just over) with torch.save (our own random
data, fixed seed): an embedding, N transformer-like layers (q/k/v/o 1024x1024,
MLP 4096x1024 and 1024x4096, two LayerNorms), a final norm.

    python make_checkpoint.py OUT.pt [--gib 1.0]
"""
import argparse
import collections

import torch

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--gib", type=float, default=1.0)
a = ap.parse_args()

torch.manual_seed(0)
d, ff = 1024, 4096
sd = collections.OrderedDict()
sd["embed_tokens.weight"] = torch.randn(4096, d)
total = sd["embed_tokens.weight"].numel() * 4
i = 0
target = int(a.gib * (1 << 30))
layer = (4 * d * d + 2 * ff * d + 4 * d) * 4
while total < target:  # stop at the first layer reaching SIZE
    p = f"layers.{i}."
    for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
        sd[p + f"self_attn.{n}.weight"] = torch.randn(d, d)
    sd[p + "mlp.up_proj.weight"] = torch.randn(ff, d)
    sd[p + "mlp.down_proj.weight"] = torch.randn(d, ff)
    for n in ("input_layernorm", "post_attention_layernorm"):
        sd[p + n + ".weight"] = torch.ones(d)
        sd[p + n + ".bias"] = torch.zeros(d)
    total += layer
    i += 1
sd["norm.weight"] = torch.ones(d)
torch.save(sd, a.out)
print(f"{a.out}: {len(sd)} tensors, {sum(t.numel() * 4 for t in sd.values())} bytes of tensor data")
