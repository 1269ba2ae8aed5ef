#!/usr/bin/env python3
# Parity sweep: for each GGUF and prompt, llama.cpp's greedy tokens and last prompt logits (parity_ref) against
# the engine's (declai-cli generate --tokens, declai-cli logits). One line per run: OK / BAD, how many tokens
# agree, the logits' cosine and largest difference, whether top-1 agrees. Exit status 1 if any run is BAD.
#
#   PARITY_REF=./parity_ref DECLAI_CLI=build/bin/declai-cli sweep.py [-n 64] [--device D] MODEL.gguf...
#   PARITY_REF=./parity_ref sweep.py --llama-gpu ./parity_ref-vulkan MODEL.gguf...
#
# parity_ref must come from the llama.cpp build whose floats the active kernel table follows (README.md: the
# AVX-512 flags less FP16 for the AVX-512 tables, the AVX2 build for DECLAI_CPU_KERNELS=avx2).
# --device runs the engine on a device (opencl:0, vulkan:0, ...); --llama-gpu compares llama.cpp's own GPU
# backend (a parity_ref built against a Vulkan or CUDA build of llama.cpp, all layers offloaded) with its CPU
# instead of the engine: the agreement llama.cpp's devices reach. The last line sums the runs up.
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


def candidate(a, cli, model, prompt, tmp):
    """The compared side's greedy tokens and the path of its last prompt logits: the engine on a.device, or
    llama.cpp's GPU build with every layer offloaded (--llama-gpu)."""
    if a.llama_gpu:
        other = os.path.join(tmp, "gpu")
        subprocess.run([a.llama_gpu, model, prompt, str(a.n), other, "2"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=dict(os.environ, PARITY_REF_GPU_LAYERS="999"))
        with open(other + ".json", errors="replace") as f:
            return json.load(f)["greedy_tokens"], other + ".logits.f32"
    out = subprocess.run([cli, "generate", "-m", model, "-p", prompt, "-n", str(a.n), "--tokens", "--threads", "2",
                          "--device", a.device], check=True, capture_output=True, text=True).stdout
    tokens = [int(t) for t in out.strip().splitlines()[-1].split()] if out.strip() else []
    logits = os.path.join(tmp, "ours.f32")
    subprocess.run([cli, "logits", "-m", model, "-p", prompt, "-o", logits, "--device", a.device], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return tokens, logits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("--device", default="cpu", help="the engine's device (declai-cli --device)")
    ap.add_argument("--llama-gpu", metavar="PARITY_REF", help="compare this llama.cpp GPU build instead")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    ref_bin = os.environ.get("PARITY_REF", "./parity_ref")
    cli = os.environ.get("DECLAI_CLI", "build/bin/declai-cli")
    bad = runs = close = whole = 0
    lowest = 1.0
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models:
            for i, prompt in enumerate(PROMPTS, 1):
                prefix = os.path.join(tmp, "ref")
                subprocess.run([ref_bin, model, prompt, str(a.n), prefix, "2"], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                with open(prefix + ".json", errors="replace") as f:  # greedy_text may be invalid UTF-8
                    ref = json.load(f)["greedy_tokens"]
                try:
                    ours, logits = candidate(a, cli, model, prompt, tmp)
                except subprocess.CalledProcessError as e:
                    # A crash of the compared side is a failed run, not the end of the sweep.
                    bad += 1
                    runs += 1
                    print("BAD %-34s p%d %s exited with %d" % (os.path.basename(model), i,
                                                               os.path.basename(e.cmd[0]), e.returncode), flush=True)
                    continue
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
                runs += 1
                close += cos >= 0.9999 and top
                whole += same == len(ref) == len(ours)
                lowest = min(lowest, cos) if cos == cos else float("nan")
                print("%s %-34s p%d tokens %d/%d cos %.7f maxdiff %.4g top1 %s" %
                      ("OK " if ok else "BAD", os.path.basename(model), i, same, len(ref), cos, diff, top),
                      flush=True)
    print("%d runs: %d OK, %d with cosine >= 0.9999 and the same top-1, %d with every greedy token equal; "
          "lowest cosine %.7f" % (runs, runs - bad, close, whole, lowest))
    return 1 if bad else 0


sys.exit(main())
