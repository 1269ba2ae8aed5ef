#!/usr/bin/env python3
# Parity sweep: for each GGUF and prompt, llama.cpp's greedy tokens and last prompt logits (parity_ref) against
# the engine's (declai-cli generate --tokens, declai-cli logits). One line per run: OK / BAD, how many tokens
# agree, the logits' cosine and largest difference, whether top-1 agrees. Exit status 1 if any run is BAD.
#
#   PARITY_REF=./parity_ref DECLAI_CLI=build/bin/declai-cli sweep.py [-n 64] MODEL.gguf...
#
# parity_ref must come from the llama.cpp build whose floats the active kernel table follows (README.md: the
# AVX-512 flags less FP16 for the AVX-512 tables, the AVX2 build for DECLAI_CPU_KERNELS=avx2).
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

PROMPTS = [
    "Once upon a time",
    "The little dog ran to the",
    "Lily wanted to play with her big red ball, but it was raining outside. She asked her mom if she could go "
    "to the park tomorrow and her mom said yes if the sun comes out.",
    "Tom and Sue",
    "One day, a bird sat on a tree. The bird was sad because it had no friends. A cat came by and said hello.",
]


def floats(path):
    with open(path, "rb") as f:
        data = f.read()
    return struct.unpack("<%df" % (len(data) // 4), data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    ref_bin = os.environ.get("PARITY_REF", "./parity_ref")
    cli = os.environ.get("DECLAI_CLI", "build/bin/declai-cli")
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models:
            for i, prompt in enumerate(PROMPTS, 1):
                prefix = os.path.join(tmp, "ref")
                subprocess.run([ref_bin, model, prompt, str(a.n), prefix, "2"], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                with open(prefix + ".json") as f:
                    ref = json.load(f)["greedy_tokens"]
                out = subprocess.run([cli, "generate", "-m", model, "-p", prompt, "-n", str(a.n), "--tokens",
                                      "--threads", "2"], check=True, capture_output=True, text=True).stdout
                ours = [int(t) for t in out.strip().splitlines()[-1].split()] if out.strip() else []
                logits = os.path.join(tmp, "ours.f32")
                subprocess.run([cli, "logits", "-m", model, "-p", prompt, "-o", logits], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                x, y = floats(prefix + ".logits.f32"), floats(logits)
                same = 0
                while same < min(len(ref), len(ours)) and ref[same] == ours[same]:
                    same += 1
                if len(x) == len(y):
                    dot = sum(p * q for p, q in zip(x, y))
                    cos = dot / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))
                    diff = max(abs(p - q) for p, q in zip(x, y))
                    top = x.index(max(x)) == y.index(max(y))
                else:
                    cos, diff, top = float("nan"), float("nan"), False
                ok = same == len(ref) == len(ours) and cos >= 0.9999 and top
                bad += not ok
                print("%s %-34s p%d tokens %d/%d cos %.7f maxdiff %.4g top1 %s" %
                      ("OK " if ok else "BAD", os.path.basename(model), i, same, len(ref), cos, diff, top),
                      flush=True)
    return 1 if bad else 0


sys.exit(main())
