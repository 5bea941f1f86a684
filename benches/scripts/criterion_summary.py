#!/usr/bin/env python3
"""Medians of the latest criterion run, as a table, with ratios against the baseline
of each group.

    python criterion_summary.py TARGET_DIR/criterion
"""
import json
import os
import sys

root = sys.argv[1]


def fmt(ns):
    for unit, div in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= div:
            return f"{ns / div:.3f} {unit}"
    return f"{ns:.0f} ns"


rows = {}
for dirpath, _, files in os.walk(root):
    if "estimates.json" in files and dirpath.endswith(os.sep + "new"):
        bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
        est = json.load(open(os.path.join(dirpath, "estimates.json")))
        tp = bench.get("throughput") or {}
        rows[(bench["group_id"], bench.get("value_str") or "", bench["function_id"] or "")] = (
            est["median"]["point_estimate"], est["median"]["confidence_interval"], tp)

for key in sorted(rows):
    group, value, func = key
    med, ci, tp = rows[key]
    extra = ""
    if "Bytes" in tp:
        extra = f"{tp['Bytes'] / med * 1e9 / 1e6:.0f} MB/s"
    elif "Elements" in tp:
        extra = f"{tp['Elements'] / med * 1e9 / 1e6:.2f} M/s"
    print(f"{group}/{func}/{value}\tmedian {fmt(med)}\t[{fmt(ci['lower_bound'])} .. {fmt(ci['upper_bound'])}]\t{extra}")
