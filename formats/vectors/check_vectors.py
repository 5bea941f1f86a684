#!/usr/bin/env python3
"""Independent check of the valid conformance vectors (Python stdlib only).

For every valid/NAME.tseal with its NAME.json, recompute from the file's bytes,
without any tensorseal code: the preamble and footer fields, the manifest and
blocks SHA-256 (hashlib), every slice digest (hashlib for sha256; for blake3
the `blake3` module if installed, else the `b3sum` tool, else a printed SKIPPED
line), signer fingerprints, and every tensor's bytes (the vectors' data pattern:
byte i of tensor k is (31 * i + k) mod 256).

Usage: check_vectors.py formats/vectors   (exit status 1 on any mismatch)
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys

MAGIC = b"\xabTSEAL\r\n\x1a\n"
END_MAGIC = b"\xabTSEOF\r\n"
DIGESTS = {1: "sha256", 2: "blake3"}
CHUNK, TAG = 65536, 16
FINGERPRINT_LABEL = b"tensorseal/v1/fingerprint/signer"


def blake3_impl():
    try:
        import blake3  # noqa: F401  (PyPI 'blake3', if installed)

        return "module", lambda b: blake3.blake3(b).hexdigest()
    except ImportError:
        pass
    if shutil.which("b3sum"):

        def run(b):
            out = subprocess.run(["b3sum", "--no-names"], input=b, capture_output=True, check=True)
            return out.stdout.decode().split()[0]

        return "b3sum", run
    return None, None


B3_NAME, B3 = blake3_impl()
counts = {"sha256": 0, "blake3": 0, "blake3_skipped": 0}


def fail(name, msg):
    print(f"FAIL {name}: {msg}")
    sys.exit(1)


def check(name, data, exp):
    def eq(what, got, want):
        if got != want:
            fail(name, f"{what}: file has {got!r}, JSON says {want!r}")

    eq("magic", data[:10], MAGIC)
    eq("preamble version", list(struct.unpack_from("<HH", data, 10)), exp["format_version"])
    foot = data[-128:]
    mo, ml, sl, rl = struct.unpack_from("<QQQQ", foot, 0)
    eq("end magic", foot[120:], END_MAGIC)
    eq("footer version", list(struct.unpack_from("<HH", foot, 112)), exp["format_version"])
    f = exp["footer"]
    eq("footer lengths", [mo, ml, sl, rl],
       [f["manifest_offset"], f["manifest_len"], f["signatures_len"], f["recipients_len"]])
    eq("file length", len(data), mo + ml + sl + rl + 128)
    manifest = data[mo:mo + ml]
    eq("manifest_sha256 (footer)", foot[32:64].hex(), f["manifest_sha256"])
    eq("manifest_sha256 (computed)", hashlib.sha256(manifest).hexdigest(), f["manifest_sha256"])
    eq("blocks_sha256 (footer)", foot[64:96].hex(), f["blocks_sha256"])
    eq("blocks_sha256 (computed)", hashlib.sha256(data[mo + ml:len(data) - 128]).hexdigest(),
       f["blocks_sha256"])
    algo = DIGESTS.get(manifest[0])
    eq("digest algorithm (manifest byte 0)", algo, exp["digest_algorithm"])

    expected_offset = 4096
    for i, s in enumerate(exp["slices"]):
        eq(f"slice {i} offset", s["offset"], expected_offset)
        expected_offset = (s["offset"] + s["length"] + 63) // 64 * 64
        covered = data[s["offset"]:s["offset"] + s["length"]]
        if s["encryption"] is not None:
            chunks = max(1, -(-s["length"] // CHUNK))
            covered += data[s["tags_offset"]:s["tags_offset"] + chunks * TAG]
        if algo == "sha256":
            eq(f"slice {i} sha256", hashlib.sha256(covered).hexdigest(), s["digest"])
            counts["sha256"] += 1
        elif B3 is None:
            counts["blake3_skipped"] += 1
        else:
            eq(f"slice {i} blake3", B3(covered), s["digest"])
            counts["blake3"] += 1

    for k, t in enumerate(exp["tensors"]):
        pattern = bytes((31 * i + k) & 0xFF for i in range(t["length"]))
        eq(f"tensor {t['name']} sha256", hashlib.sha256(pattern).hexdigest(), t["sha256"])
        eq(f"tensor {t['name']} offset alignment", t["offset"] % 64, 0)
        if exp["encryption"] is None:
            eq(f"tensor {t['name']} bytes", data[t["offset"]:t["offset"] + t["length"]], pattern)

    for j, sig in enumerate(exp["signatures"]):
        pk = bytes.fromhex(sig["public_key"])
        fp = hashlib.sha256(FINGERPRINT_LABEL + b"\0" + pk).hexdigest()
        eq(f"signature {j} fingerprint", fp, sig["fingerprint"])
        st = sig["statement"]
        eq(f"signature {j} statement signer", st["signer"], fp)
        eq(f"signature {j} statement manifest", st["manifest_sha256"], f["manifest_sha256"])
        eq(f"signature {j} statement model",
           [st["major"], st["minor"], st["model_id"], st["version"], st["created"], st["expires"]],
           exp["format_version"] + [exp["model_id"], exp["version"], exp["created"], exp["expires"]])
        eq(f"signature {j} public key in the file", data.find(pk) > mo, True)
    print(f"ok {name}")


def main():
    root = os.path.join(sys.argv[1] if len(sys.argv) > 1 else ".", "valid")
    names = sorted(n[:-6] for n in os.listdir(root) if n.endswith(".tseal"))
    if not names:
        fail(root, "no vectors")
    for name in names:
        with open(os.path.join(root, name + ".tseal"), "rb") as fh:
            data = fh.read()
        with open(os.path.join(root, name + ".json")) as fh:
            exp = json.load(fh)
        check(name, data, exp)
    print(f"sha256 slices checked: {counts['sha256']}")
    if B3 is None:
        print(f"SKIPPED: {counts['blake3_skipped']} blake3 slice digests not recomputed "
              "(neither the blake3 Python module nor b3sum is installed)")
    else:
        print(f"blake3 slices checked with {B3_NAME}: {counts['blake3']}")


main()
