#!/usr/bin/env python3
# Random-weight GGUFs with the per-layer shapes of released models (a few layers each, the 512-token vocabulary
# of ../shared's synth-arch files), written with llama.cpp's gguf-py the way ../shared's synth-arch files were
# (weights normal with std 1/sqrt(fan-in), norm weights 1 +- 0.2, the end-of-text row zeroed). For parity
# sweeps against llama.cpp on shapes ../shared's small files do not have (README.md, "sweep.py").
#
#   GGUF_PY=llama.cpp/gguf-py real_shapes.py SHAPE OUT.gguf [SEED]     (SHAPE: see SHAPES below)
#
# Needs numpy. Quantise the F16 output with llama.cpp's llama-quantize for the other types.
import os
import sys

import numpy as np

sys.path.insert(0, os.environ.get("GGUF_PY", "llama.cpp/gguf-py"))
import gguf  # noqa: E402

VOCAB_FROM = os.environ.get("VOCAB_FROM", "../shared/models/synth-arch-llama-f16.gguf")


def copy_tokenizer(w):
    r = gguf.GGUFReader(VOCAB_FROM)
    f = r.fields
    toks = [bytes(f["tokenizer.ggml.tokens"].parts[i]).decode("utf-8") for i in f["tokenizer.ggml.tokens"].data]
    scores = [float(f["tokenizer.ggml.scores"].parts[i][0]) for i in f["tokenizer.ggml.scores"].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    return len(toks)


rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 7)


def mat(rows, cols):
    return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float16)


def norm(n):
    return (1.0 + rng.uniform(-0.2, 0.2, n)).astype(np.float32)


def bias(n):
    return (rng.standard_normal(n) * 0.1).astype(np.float32)


SHAPES = {
    # name: arch, dim, layers, heads, KV heads, head size, FFN, RoPE base, RMS epsilon (per-layer shapes of
    # Qwen2.5 0.5B and 1.5B, Qwen3 0.6B, Gemma 2 2B, Phi-3 mini; a Mixtral-style llama of 8 experts, 2 used)
    "qwen25-05b": dict(arch="qwen2", dim=896, layers=3, heads=14, kv=2, hd=64, ff=4864, rope=1e6, eps=1e-6),
    "qwen25-15b": dict(arch="qwen2", dim=1536, layers=2, heads=12, kv=2, hd=128, ff=8960, rope=1e6, eps=1e-6),
    "qwen3-06b": dict(arch="qwen3", dim=1024, layers=3, heads=16, kv=8, hd=128, ff=3072, rope=1e6, eps=1e-6),
    "gemma2-2b": dict(arch="gemma2", dim=2304, layers=4, heads=8, kv=4, hd=256, ff=9216, rope=1e4, eps=1e-6),
    "phi3-mini": dict(arch="phi3", dim=3072, layers=2, heads=32, kv=32, hd=96, ff=8192, rope=1e4, eps=1e-5),
    "mixtral-s": dict(arch="llama", dim=1024, layers=2, heads=8, kv=2, hd=128, ff=1792, rope=1e6, eps=1e-5,
                      experts=8, used=2),
}


def main():
    name, out = sys.argv[1], sys.argv[2]
    s = SHAPES[name]
    arch, dim, L, H, KV, hd, ff = s["arch"], s["dim"], s["layers"], s["heads"], s["kv"], s["hd"], s["ff"]
    w = gguf.GGUFWriter(out, arch)
    # Not "phi3" in the name: llama.cpp then wants Phi-3's special tokens, which this vocabulary lacks.
    w.add_name("real-shape " + name.replace("phi3", "p3"))
    w.add_context_length(4096)
    w.add_embedding_length(dim)
    w.add_block_count(L)
    w.add_feed_forward_length(ff)
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_layer_norm_rms_eps(s["eps"])
    w.add_rope_freq_base(s["rope"])
    if arch in ("qwen3", "gemma2") or hd * H != dim:
        w.add_key_length(hd)
        w.add_value_length(hd)
    if arch in ("qwen2", "qwen3", "llama", "phi3"):
        w.add_rope_dimension_count(hd)
    if arch == "gemma2":
        w.add_attn_logit_softcapping(50.0)
        w.add_final_logit_softcapping(30.0)
        w.add_sliding_window(32)
    if arch == "phi3":
        w.add_sliding_window(48)
    if "experts" in s:
        w.add_expert_count(s["experts"])
        w.add_expert_used_count(s["used"])
    vocab = copy_tokenizer(w)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    emb = mat(vocab, dim)
    emb[2, :] = 0  # the end-of-text row zeroed so generations run their full length
    w.add_tensor("token_embd.weight", emb)
    w.add_tensor("output_norm.weight", norm(dim))
    if arch in ("phi3", "llama"):
        out_w = mat(vocab, dim)
        out_w[2, :] = 0
        w.add_tensor("output.weight", out_w)
    for l in range(L):
        p = f"blk.{l}."
        w.add_tensor(p + "attn_norm.weight", norm(dim))
        if arch == "phi3":
            w.add_tensor(p + "attn_qkv.weight", mat(H * hd + 2 * KV * hd, dim))
        else:
            w.add_tensor(p + "attn_q.weight", mat(H * hd, dim))
            w.add_tensor(p + "attn_k.weight", mat(KV * hd, dim))
            w.add_tensor(p + "attn_v.weight", mat(KV * hd, dim))
        if arch == "qwen2":
            w.add_tensor(p + "attn_q.bias", bias(H * hd))
            w.add_tensor(p + "attn_k.bias", bias(KV * hd))
            w.add_tensor(p + "attn_v.bias", bias(KV * hd))
        if arch == "qwen3":
            w.add_tensor(p + "attn_q_norm.weight", norm(hd))
            w.add_tensor(p + "attn_k_norm.weight", norm(hd))
        w.add_tensor(p + "attn_output.weight", mat(dim, H * hd))
        if arch == "gemma2":
            w.add_tensor(p + "post_attention_norm.weight", norm(dim))
        w.add_tensor(p + "ffn_norm.weight", norm(dim))
        if "experts" in s:
            E = s["experts"]
            w.add_tensor(p + "ffn_gate_inp.weight", (rng.standard_normal((E, dim)) / np.sqrt(dim)).astype(np.float32))
            w.add_tensor(p + "ffn_gate_exps.weight", np.stack([mat(ff, dim) for _ in range(E)]))
            w.add_tensor(p + "ffn_up_exps.weight", np.stack([mat(ff, dim) for _ in range(E)]))
            w.add_tensor(p + "ffn_down_exps.weight", np.stack([mat(dim, ff) for _ in range(E)]))
        elif arch == "phi3":
            w.add_tensor(p + "ffn_up.weight", mat(2 * ff, dim))
            w.add_tensor(p + "ffn_down.weight", mat(dim, ff))
        else:
            w.add_tensor(p + "ffn_gate.weight", mat(ff, dim))
            w.add_tensor(p + "ffn_up.weight", mat(ff, dim))
            w.add_tensor(p + "ffn_down.weight", mat(dim, ff))
        if arch == "gemma2":
            w.add_tensor(p + "post_ffw_norm.weight", norm(dim))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


main()
