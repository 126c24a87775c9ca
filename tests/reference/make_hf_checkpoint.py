#!/usr/bin/env -S /usr/bin/python3
"""Writes tiny random-weight DeepSeek-V2/V3 checkpoints in exact Hugging Face layout.

  make_hf_checkpoint.py --preset bf16_mtp --out DIR [--seed 0] [--shards N] [--dequant]

Presets (each runs through the reference in well under a second):
  bf16_mtp  DeepseekV3ForCausalLM, BF16, 1 MTP layer, sigmoid + noaux_tc, 4 groups (topk_group 2)
  fp8       DeepseekV3ForCausalLM, F8_E4M3 + weight_scale_inv 128x128 blocks; every FP8 dim is
            NOT a multiple of 128 so edge blocks are partial; quantization_config; 1 MTP layer
  v2_lite   DeepseekV2ForCausalLM, q_lora_rank null, softmax greedy, norm_topk_prob false,
            1 dense layer, 2 shared experts, no MTP, mscale 0.707
  grouped   DeepseekV3ForCausalLM, 32 experts in 8 groups, topk_group 3, top-6, 2 shared, 1 MTP

All presets use YaRN (factor 40, original_max_position_embeddings 64, so the ramp matters at
short lengths), mscale == mscale_all_dim, max_position_embeddings = factor * original, and
e_score_correction_bias >= 0 but large enough to change routing (README "Conventions").

--dequant writes the FP8 preset's quantised weights dequantised to F32 (no scale tensors, no
quantization_config): the same model in another storage format, for self-consistency tests.
--shards N splits the tensors over N files with model.safetensors.index.json.
Tensor names, shapes and the dtype of each tensor follow the real DeepSeek-V3 / V2-Lite files.
"""
import argparse
import json
import math
import os
import struct

import numpy as np

PRESETS = {
    "bf16_mtp": dict(
        arch="v3", dtype="bf16", vocab_size=512, hidden_size=128, intermediate_size=288,
        moe_intermediate_size=64, num_hidden_layers=3, first_k_dense_replace=1, num_attention_heads=4,
        q_lora_rank=48, kv_lora_rank=40, qk_nope_head_dim=24, qk_rope_head_dim=16, v_head_dim=20,
        n_routed_experts=16, n_group=4, topk_group=2, num_experts_per_tok=4, n_shared_experts=1,
        routed_scaling_factor=2.5, norm_topk_prob=True, num_nextn_predict_layers=1,
        mscale=1.0, rope_theta=10000.0),
    "fp8": dict(
        arch="v3", dtype="fp8", vocab_size=300, hidden_size=200, intermediate_size=300,
        moe_intermediate_size=136, num_hidden_layers=2, first_k_dense_replace=1, num_attention_heads=3,
        q_lora_rank=136, kv_lora_rank=72, qk_nope_head_dim=40, qk_rope_head_dim=16, v_head_dim=48,
        n_routed_experts=8, n_group=2, topk_group=1, num_experts_per_tok=2, n_shared_experts=1,
        routed_scaling_factor=2.5, norm_topk_prob=True, num_nextn_predict_layers=1,
        mscale=1.0, rope_theta=10000.0),
    "v2_lite": dict(
        arch="v2", dtype="bf16", vocab_size=400, hidden_size=96, intermediate_size=256,
        moe_intermediate_size=48, num_hidden_layers=3, first_k_dense_replace=1, num_attention_heads=4,
        q_lora_rank=None, kv_lora_rank=48, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32,
        n_routed_experts=16, n_group=1, topk_group=1, num_experts_per_tok=6, n_shared_experts=2,
        routed_scaling_factor=1.0, norm_topk_prob=False, num_nextn_predict_layers=0,
        mscale=0.707, rope_theta=10000.0, topk_method="greedy", scoring_func="softmax"),
    "grouped": dict(
        arch="v3", dtype="bf16", vocab_size=700, hidden_size=160, intermediate_size=352,
        moe_intermediate_size=40, num_hidden_layers=4, first_k_dense_replace=1, num_attention_heads=4,
        q_lora_rank=64, kv_lora_rank=48, qk_nope_head_dim=32, qk_rope_head_dim=32, v_head_dim=32,
        n_routed_experts=32, n_group=8, topk_group=3, num_experts_per_tok=6, n_shared_experts=2,
        routed_scaling_factor=2.5, norm_topk_prob=True, num_nextn_predict_layers=1,
        mscale=1.0, rope_theta=10000.0),
}
YARN_FACTOR, YARN_ORIG = 40, 64
BLOCK = 128

# ----------------------------------------------------------------------------------------------
# dtype encoders
# ----------------------------------------------------------------------------------------------


def to_bf16_bits(x):
    """float -> bf16 bits, round to nearest even (as torch's .to(bfloat16))."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = u + 0x7FFF + ((u >> 16) & 1)
    return (u >> 16).astype(np.uint16)


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def _e4m3fn_positive():
    code = np.arange(127)  # 0x00..0x7E: all non-negative finite values, increasing with the code
    exp, man = code >> 3, (code & 7).astype(np.float64)
    return np.where(exp == 0, man / 8.0 * 2.0 ** -6, (1.0 + man / 8.0) * np.power(2.0, exp - 7))


E4M3_POS = _e4m3fn_positive()


def to_e4m3fn_bits(x):
    """float -> e4m3fn code, round to nearest, ties to even code (= even mantissa); saturate 448."""
    x = np.asarray(x, dtype=np.float64)
    a = np.minimum(np.abs(x), 448.0)
    hi = np.clip(np.searchsorted(E4M3_POS, a), 1, 126)
    lo = hi - 1
    dlo, dhi = a - E4M3_POS[lo], E4M3_POS[hi] - a
    pick_hi = (dhi < dlo) | ((dhi == dlo) & (hi % 2 == 0))
    code = np.where(pick_hi, hi, lo).astype(np.uint8)
    return np.where((x < 0) & (code != 0), code | 0x80, code).astype(np.uint8)


def e4m3fn_bits_to_f32(b):
    mag = E4M3_POS[b & 0x7F].astype(np.float32)
    return np.where(b & 0x80, -mag, mag).astype(np.float32)


def quantize_fp8_blocks(w):
    """Per 128x128 block (partial at edges): scale_inv = amax/448, q = e4m3(w / scale_inv)."""
    rows, cols = w.shape
    nr, nc = -(-rows // BLOCK), -(-cols // BLOCK)
    scale = np.zeros((nr, nc), dtype=np.float32)
    for i in range(nr):
        for j in range(nc):
            blk = w[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK]
            scale[i, j] = max(float(np.abs(blk).max()), 1e-12) / 448.0
    full = np.repeat(np.repeat(scale, BLOCK, 0), BLOCK, 1)[:rows, :cols]
    q = to_e4m3fn_bits(w / full)
    return q, scale, e4m3fn_bits_to_f32(q) * full


# ----------------------------------------------------------------------------------------------
# safetensors writer
# ----------------------------------------------------------------------------------------------


def write_safetensors(path, tensors):
    """tensors: {name: (dtype string, numpy array of stored bits/values)}; 8-byte aligned header."""
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        dt, arr = tensors[name]
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# model description
# ----------------------------------------------------------------------------------------------


def make_config(p):
    v3 = p["arch"] == "v3"
    cfg = {
        "architectures": ["DeepseekV3ForCausalLM" if v3 else "DeepseekV2ForCausalLM"],
        "model_type": "deepseek_v3" if v3 else "deepseek_v2",
        "attention_bias": False, "attention_dropout": 0.0,
        "aux_loss_alpha": 0.001, "bos_token_id": 0, "eos_token_id": 1,
        "ep_size": 1, "first_k_dense_replace": p["first_k_dense_replace"],
        "hidden_act": "silu", "hidden_size": p["hidden_size"], "initializer_range": 0.02,
        "intermediate_size": p["intermediate_size"], "kv_lora_rank": p["kv_lora_rank"],
        "max_position_embeddings": YARN_FACTOR * YARN_ORIG,
        "moe_intermediate_size": p["moe_intermediate_size"], "moe_layer_freq": 1,
        "n_group": p["n_group"], "n_routed_experts": p["n_routed_experts"],
        "n_shared_experts": p["n_shared_experts"], "norm_topk_prob": p["norm_topk_prob"],
        "num_attention_heads": p["num_attention_heads"],
        "num_experts_per_tok": p["num_experts_per_tok"], "num_hidden_layers": p["num_hidden_layers"],
        "num_key_value_heads": p["num_attention_heads"],
        "pretraining_tp": 1, "q_lora_rank": p["q_lora_rank"],
        "qk_nope_head_dim": p["qk_nope_head_dim"], "qk_rope_head_dim": p["qk_rope_head_dim"],
        "rms_norm_eps": 1e-06,
        "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": YARN_FACTOR,
                         "mscale": p["mscale"], "mscale_all_dim": p["mscale"],
                         "original_max_position_embeddings": YARN_ORIG, "type": "yarn"},
        "rope_theta": p["rope_theta"], "routed_scaling_factor": p["routed_scaling_factor"],
        "scoring_func": p.get("scoring_func", "sigmoid"), "seq_aux": True,
        "tie_word_embeddings": False, "topk_group": p["topk_group"],
        "topk_method": p.get("topk_method", "noaux_tc"), "torch_dtype": "bfloat16",
        "transformers_version": "4.46.3", "use_cache": True, "v_head_dim": p["v_head_dim"],
        "vocab_size": p["vocab_size"],
    }
    if v3:
        cfg["num_nextn_predict_layers"] = p["num_nextn_predict_layers"]
    return cfg


class Gen:
    """Draws every tensor from one RandomState in a fixed order, so all storage formats of a
    preset/seed describe the same model."""

    def __init__(self, seed):
        self.rng = np.random.RandomState(seed)

    def lin(self, out_f, in_f, gain=1.0):
        return (self.rng.standard_normal((out_f, in_f)) * gain / math.sqrt(in_f)).astype(np.float32)

    def norm(self, n):
        return (1.0 + 0.2 * self.rng.uniform(-1, 1, n)).astype(np.float32)


def build_tensors(p, seed):
    """Returns [(name, float32 array, kind)], kind in {'fp8', 'bf16', 'f32'} (storage in real V3)."""
    g, D, V = Gen(seed), p["hidden_size"], p["vocab_size"]
    H, Dn, Dr, Dv = p["num_attention_heads"], p["qk_nope_head_dim"], p["qk_rope_head_dim"], p["v_head_dim"]
    Rq, Rkv = p["q_lora_rank"], p["kv_lora_rank"]
    out = []

    def add(name, arr, kind="fp8"):
        out.append((name, arr, kind))

    embed = (g.rng.standard_normal((V, D))).astype(np.float32)
    head = g.lin(V, D, gain=2.5)

    def layer(l):
        pre = f"model.layers.{l}."
        if Rq is None:
            add(pre + "self_attn.q_proj.weight", g.lin(H * (Dn + Dr), D))
        else:
            add(pre + "self_attn.q_a_proj.weight", g.lin(Rq, D))
            add(pre + "self_attn.q_a_layernorm.weight", g.norm(Rq), "bf16")
            add(pre + "self_attn.q_b_proj.weight", g.lin(H * (Dn + Dr), Rq))
        add(pre + "self_attn.kv_a_proj_with_mqa.weight", g.lin(Rkv + Dr, D))
        add(pre + "self_attn.kv_a_layernorm.weight", g.norm(Rkv), "bf16")
        add(pre + "self_attn.kv_b_proj.weight", g.lin(H * (Dn + Dv), Rkv))
        add(pre + "self_attn.o_proj.weight", g.lin(D, H * Dv, gain=0.7))
        add(pre + "input_layernorm.weight", g.norm(D), "bf16")
        add(pre + "post_attention_layernorm.weight", g.norm(D), "bf16")
        moe = l >= p["first_k_dense_replace"]
        if not moe:
            F = p["intermediate_size"]
            add(pre + "mlp.gate_proj.weight", g.lin(F, D))
            add(pre + "mlp.up_proj.weight", g.lin(F, D))
            add(pre + "mlp.down_proj.weight", g.lin(D, F, gain=0.7))
            return
        E, F = p["n_routed_experts"], p["moe_intermediate_size"]
        add(pre + "mlp.gate.weight", g.lin(E, D, gain=1.5), "bf16")
        if p["arch"] == "v3":
            # >= 0 so official (-inf) and HF (0.0) group masking agree; ~ the spread of sigmoid
            # scores so the bias really changes which experts win.
            add(pre + "mlp.gate.e_score_correction_bias",
                g.rng.uniform(0.0, 0.35, E).astype(np.float32), "f32")
        for e in range(E):
            add(pre + f"mlp.experts.{e}.gate_proj.weight", g.lin(F, D))
            add(pre + f"mlp.experts.{e}.up_proj.weight", g.lin(F, D))
            add(pre + f"mlp.experts.{e}.down_proj.weight", g.lin(D, F, gain=0.7))
        if p["n_shared_experts"]:
            S = F * p["n_shared_experts"]
            add(pre + "mlp.shared_experts.gate_proj.weight", g.lin(S, D))
            add(pre + "mlp.shared_experts.up_proj.weight", g.lin(S, D))
            add(pre + "mlp.shared_experts.down_proj.weight", g.lin(D, S, gain=0.7))

    add("model.embed_tokens.weight", embed, "bf16")
    for l in range(p["num_hidden_layers"]):
        layer(l)
    add("model.norm.weight", g.norm(D), "bf16")
    add("lm_head.weight", head, "bf16")
    for k in range(p["num_nextn_predict_layers"]):
        L = p["num_hidden_layers"] + k
        pre = f"model.layers.{L}."
        # Published V3 checkpoints hold exact copies of the main embedding and head here.
        add(pre + "embed_tokens.weight", embed, "bf16")
        add(pre + "enorm.weight", g.norm(D), "bf16")
        add(pre + "hnorm.weight", g.norm(D), "bf16")
        add(pre + "eh_proj.weight", g.lin(D, 2 * D), "bf16")
        add(pre + "shared_head.norm.weight", g.norm(D), "bf16")
        add(pre + "shared_head.head.weight", head, "bf16")
        layer(L)
    return out


def encode(tensors, storage, dequant):
    """storage: 'bf16' | 'fp8' | 'f32'. Returns {name: (dtype, array)}."""
    enc = {}
    for name, arr, kind in tensors:
        if kind == "f32" or storage == "f32":
            enc[name] = ("F32", arr)
        elif kind == "fp8" and storage == "fp8":
            q, scale, deq = quantize_fp8_blocks(arr)
            if dequant:
                enc[name] = ("F32", deq.astype(np.float32))
            else:
                enc[name] = ("F8_E4M3", q)
                enc[name + "_scale_inv"] = ("F32", scale)
        else:
            enc[name] = ("BF16", to_bf16_bits(arr))
    return enc


def write_checkpoint(out_dir, preset, seed=0, shards=1, dequant=False, storage=None):
    p = PRESETS[preset]
    storage = storage or p["dtype"]
    os.makedirs(out_dir, exist_ok=True)
    cfg = make_config(p)
    if storage == "fp8" and not dequant:
        cfg["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3",
                                      "quant_method": "fp8", "weight_block_size": [BLOCK, BLOCK]}
    cfg["torch_dtype"] = "float32" if storage == "f32" else "bfloat16"
    enc = encode(build_tensors(p, seed), storage, dequant)
    for fn in os.listdir(out_dir):  # never leave a stale mix of single-file and sharded output
        if fn.endswith(".safetensors") or fn == "model.safetensors.index.json":
            os.remove(os.path.join(out_dir, fn))
    if shards <= 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), enc)
    else:
        # Keep each weight next to its scale; split in name order, layer by layer like HF shards.
        names = sorted(n for n in enc if not n.endswith("_scale_inv"))
        per = -(-len(names) // shards)
        weight_map, total = {}, 0
        for s in range(shards):
            fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {}
            for n in names[s * per:(s + 1) * per]:
                part[n] = enc[n]
                if n + "_scale_inv" in enc:
                    part[n + "_scale_inv"] = enc[n + "_scale_inv"]
            for n, (_, a) in part.items():
                weight_map[n] = fn
                total += a.nbytes
            write_safetensors(os.path.join(out_dir, fn), part)
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", required=True, choices=sorted(PRESETS))
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--dequant", action="store_true", help="fp8 preset: write dequantised F32 twin")
    ap.add_argument("--dtype", choices=["bf16", "fp8", "f32"], help="override the preset's storage dtype")
    a = ap.parse_args()
    cfg = write_checkpoint(a.out, a.preset, a.seed, a.shards, a.dequant, a.dtype)
    print(json.dumps({"out": a.out, "preset": a.preset, "architecture": cfg["architectures"][0]}))


if __name__ == "__main__":
    main()
