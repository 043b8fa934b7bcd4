#!/usr/bin/env python3
"""Checks that Python reads what Tern writes: a model folder (model.safetensors + config.json) or any
folder of .safetensors files from a Tern checkpoint.

Usage:  python3 tools/reference/check_interop.py DIR [--golden src/test/resources/golden/float]

For every DIR/*.safetensors: opens it with the safetensors package, requires metadata format=pt, and
recomputes each tensor's CRC32 over its stored bytes against Tern's tern.crc32.<name> entries (an
independent check of the checksum convention). If DIR holds config.json and model.safetensors, loads it
with transformers' LlamaForCausalLM (eager attention, float32) and prints the loss on the golden tokens;
with --golden, DIR must hold the golden initial weights (e.g. re-written by Tern in f32, bf16 or f16) and
the logits are compared with the golden logits.

Needs torch, safetensors and transformers (the device machine has them); exits non-zero on any mismatch.
"""
import argparse
import glob
import json
import os
import struct
import sys
import zlib

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file


def check_file(path):
    with open(path, "rb") as f:
        raw = f.read()
    header_size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_size])
    data = raw[8 + header_size:]
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
        names = list(f.keys())
    problems = []
    if metadata.get("format") != "pt":
        problems.append("metadata format is %r, transformers wants 'pt'" % metadata.get("format"))
    checked = 0
    for name in names:
        expected = metadata.get("tern.crc32." + name)
        if expected is None:
            continue
        begin, end = header[name]["data_offsets"]
        actual = "%08x" % (zlib.crc32(data[begin:end]) & 0xFFFFFFFF)
        if actual != expected:
            problems.append("%s: CRC32 %s, metadata says %s" % (name, actual, expected))
        checked += 1
    load_file(path)                        # the torch loader too, not only the header
    print("%s: %d tensors, %d checksums verified%s" % (path, len(names), checked, "" if not problems else ", PROBLEMS:"))
    for p in problems:
        print("  " + p)
    return not problems


def check_model(folder, golden):
    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32).eval()
    ok = True
    if golden is None:
        print("%s: transformers loaded %d parameters" % (folder, sum(1 for _ in model.parameters())))
        return ok
    info = json.load(open(os.path.join(golden, "golden.json")))
    inputs, targets = torch.tensor(info["inputs"]), torch.tensor(info["targets"])
    with torch.no_grad():
        logits = model(input_ids=inputs).logits
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item()
    reference = load_file(os.path.join(golden, "golden.safetensors"))["logits"]
    error = ((logits - reference).abs().max() / reference.abs().max()).item()
    print("%s: loss %.6f (golden %.6f), logits max error %.3g of the largest logit" % (folder, loss, info["loss"], error))
    # f32 files must reproduce the golden logits; bf16/f16 files lose precision in the weights themselves.
    dtypes = {t.dtype for t in load_file(os.path.join(folder, "model.safetensors")).values()}
    if dtypes == {torch.float32} and error > 1e-5:
        print("  PROBLEM: f32 weights should reproduce the golden logits")
        ok = False
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--golden", help="golden folder whose initial weights DIR holds")
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.dir, "*.safetensors")))
    if not files:
        sys.exit("no .safetensors files in " + args.dir)
    ok = all([check_file(f) for f in files])
    if os.path.exists(os.path.join(args.dir, "config.json")) and os.path.exists(os.path.join(args.dir, "model.safetensors")):
        ok = check_model(args.dir, args.golden) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
