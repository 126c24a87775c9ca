#!/usr/bin/env -S /usr/bin/python3
"""Per-layer fixtures for tests/unit/model_layers_test.cpp, computed by the independent torch
reference (deepseek_reference.py) on tiny random checkpoints from make_hf_checkpoint.py.

  layer_fixtures.py [--out tests/fixtures/layers] [--keep-checkpoints DIR]
  layer_fixtures.py --check     # regenerate into a temp dir, compare with the committed files

For each preset (bf16_mtp: V3 BF16 + MTP; fp8: V3 F8_E4M3 with partial 128x128 blocks + MTP;
v2_lite: V2, q_lora_rank null, softmax greedy routing) it writes <out>/<preset>/:
  manifest.json   preset, seed, checkpoint checksums, layer indices, min gate margin
  *.npy           inputs and reference outputs, float32 / int32 (list in layer_fixtures())

The checkpoints themselves (1.6-3.6 MB each) are NOT committed: the C++ test rebuilds them at test
time with make_hf_checkpoint.py (numpy only, deterministic per preset + seed) and checks them
against the checksums in manifest.json, so a changed generator is reported as stale fixtures,
not as a numerical mismatch.

Routing is discontinuous: a token whose K-th and (K+1)-th expert (or kept/dropped group) scores
are closer than float32 noise could legitimately route differently in C++. Every gate input here
is checked to have a margin >= MIN_MARGIN (random gate inputs with smaller margins are dropped;
for the real activations the script fails and a different token list has to be chosen).

Dimension letters as in deepseek_reference.py: T tokens, D hidden, Dr rope dim, E experts, K top-k.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import deepseek_reference as ref  # noqa: E402
import make_hf_checkpoint as mk  # noqa: E402

PRESETS = [("bf16_mtp", 11), ("fp8", 12), ("v2_lite", 13)]  # (preset, checkpoint seed)
IDS = [5, 77, 2, 199, 31, 8, 120, 64]  # T = 8 prompt tokens (all < smallest vocab, 300)
DECODE_ID = 42  # the extra decode step at position T
ROPE_POSITIONS = list(range(0, 5001, 377)) + [1, 2, 63, 64, 65, 2559]  # YaRN ramp: L0 = 64
GATE_TOKENS = 32
MIN_MARGIN = 1e-4  # float32 routing noise is ~1e-6


def file_checksum(path):
    """64-bit checksum also computed by the C++ test: the file's bytes, zero-padded to a multiple
    of 8, read as little-endian uint64 words w_i; sum of w_i * (2i + 1) modulo 2^64.
    Detects a changed checkpoint generator (not meant to resist deliberate collisions)."""
    with open(path, "rb") as f:
        data = f.read()
    data += b"\0" * (-len(data) % 8)
    w = np.frombuffer(data, dtype="<u8")
    odd = np.arange(len(w), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        return f"{int(np.sum(w * odd, dtype=np.uint64)):016x}"


def gate_margin(model, p, x):
    """Per-token distance of the routing decision from a tie (README "MoE gate"): the smallest of
    (topk_group-th minus next group score) and (K-th minus (K+1)-th selection score among the
    experts of the kept groups). Mirrors DeepSeekReference.gate."""
    c = model.cfg
    E, K = c["n_routed_experts"], c["num_experts_per_tok"]
    z = x.float() @ model.W(p + ".gate.weight").float().T
    func = c.get("scoring_func", "sigmoid" if model.is_v3 else "softmax")
    s = torch.sigmoid(z) if func == "sigmoid" else torch.softmax(z, dim=-1)
    method = c.get("topk_method", "noaux_tc" if model.is_v3 else "greedy")
    G = int(c.get("n_group") or 1)
    choice = s + model.W(p + ".gate.e_score_correction_bias") if method == "noaux_tc" else s
    margin = torch.full((x.shape[0],), float("inf"))
    if method in ("noaux_tc", "group_limited_greedy") and G > 1:
        grouped = choice.view(-1, G, E // G)
        gscore = grouped.topk(2, -1).values.sum(-1) if method == "noaux_tc" else grouped.max(-1).values
        tg = int(c["topk_group"])
        gs = gscore.sort(-1, descending=True).values
        if tg < G:
            margin = torch.minimum(margin, gs[:, tg - 1] - gs[:, tg])
        keep = gscore.topk(tg, -1).indices
        drop = torch.ones_like(gscore, dtype=torch.bool).scatter_(1, keep, False)
        choice = grouped.masked_fill(drop[..., None], float("-inf")).view(-1, E)
    cs = choice.sort(-1, descending=True).values
    gap = cs[:, K - 1] - cs[:, K]  # inf when the (K+1)-th is a dropped expert
    return torch.minimum(margin, gap)


class MarginRecorder:
    """Wraps model.gate to record the routing margin of every MoE call of a forward."""

    def __init__(self, model):
        self.model, self.orig, self.min = model, model.gate, float("inf")
        model.gate = self

    def __call__(self, p, x):
        self.min = min(self.min, float(gate_margin(self.model, p, x).min()))
        return self.orig(p, x)


def f32(t):
    return np.ascontiguousarray(t.detach().to(torch.float32).numpy())


def layer_fixtures(ckpt, rng):
    """Returns ({file stem: numpy array}, manifest fields) for one checkpoint."""
    m = ref.DeepSeekReference(ckpt, torch.float32)
    rec = MarginRecorder(m)
    c, D, T = m.cfg, m.D, len(IDS)
    ids = torch.tensor(IDS)
    pos = torch.arange(T)
    dense = next(l for l in range(m.n_layers) if not m.is_moe(l))
    moe = next(l for l in range(m.n_layers) if m.is_moe(l))
    out = {}

    # RMSNorm: embedding rows at three magnitudes (1e-3 makes mean(x^2) ~ eps matter).
    emb = m.W("model.embed_tokens.weight")[ids]  # [T, D]
    x = torch.cat([emb, emb[:3] * 1e-3, emb[3:5] * 1e3])
    out["rmsnorm_x"] = f32(x)
    out["rmsnorm_y"] = f32(m.rmsnorm(x, f"model.layers.{dense}.input_layernorm.weight", m.eps))

    # RoPE: [P, Dr] rows at positions up to 5000 (YaRN with L0 = 64 interpolates most dims).
    rp = torch.tensor(ROPE_POSITIONS)
    x = torch.from_numpy(rng.standard_normal((len(rp), m.Dr)).astype(np.float32))
    out["rope_positions"] = np.array(ROPE_POSITIONS, dtype=np.int32)
    out["rope_x"] = f32(x)
    out["rope_y"] = f32(m.rope(x, rp))
    out["rope_inv_freq"] = f32(m.inv_freq)
    out["rope_softmax_scale"] = np.array([m.softmax_scale], dtype=np.float32)

    # Gate on random unit-scale inputs, keeping only tokens with an unambiguous routing.
    p = f"model.layers.{moe}.mlp"
    cand = torch.from_numpy(rng.standard_normal((8 * GATE_TOKENS, D)).astype(np.float32))
    good = (gate_margin(m, p, cand) >= 1e-3).nonzero().flatten()
    if len(good) < GATE_TOKENS:
        raise RuntimeError(f"{ckpt}: only {len(good)} random gate inputs with margin >= 1e-3")
    xg = cand[good[:GATE_TOKENS]]
    idx, w = m.gate(p, xg)
    out["gate_x"] = f32(xg)
    out["gate_logits"] = f32(xg @ m.W(p + ".gate.weight").T)  # the same f32 product the gate uses
    out["gate_experts"] = idx.to(torch.int32).numpy()
    out["gate_weights"] = f32(w)

    # Main forward layer by layer from the embedding; each layer's real input is the fixture input.
    h0 = emb
    a0 = m.rmsnorm(h0, f"model.layers.{dense}.input_layernorm.weight", m.eps)
    # MLA of the first layer: prefill T tokens from position 0, then one decode step at T.
    cache = ref.LayerCache()
    attn_p = f"model.layers.{dense}.self_attn"
    out["mla_x"] = f32(a0)
    out["mla_out"] = f32(m.attention(attn_p, a0, pos, "naive", cache))
    xd = m.rmsnorm(m.W("model.embed_tokens.weight")[[DECODE_ID]], f"model.layers.{dense}.input_layernorm.weight",
                   m.eps)
    out["mla_decode_x"] = f32(xd)
    out["mla_decode_out"] = f32(m.attention(attn_p, xd, torch.tensor([T]), "naive", cache))
    out["mla_cache_c"] = f32(cache.c)  # [T+1, Rkv] normalised latents
    out["mla_cache_kpe"] = f32(cache.k_pe)  # [T+1, Dr] roped shared keys

    assert dense == 0 and moe == 1, "fixtures assume layer 0 dense, layer 1 MoE"
    h1 = m.block(0, h0, pos)
    h2 = m.block(1, h1, pos)
    out["block_dense_in"], out["block_dense_out"] = f32(h0), f32(h1)
    out["block_moe_in"], out["block_moe_out"] = f32(h1), f32(h2)
    # The FFN parts of those blocks on their real (post_attention-normalised) inputs.
    y0 = m.rmsnorm(h0 + m.attention(attn_p, a0, pos), "model.layers.0.post_attention_layernorm.weight", m.eps)
    out["mlp_x"], out["mlp_out"] = f32(y0), f32(m.mlp("model.layers.0.mlp", y0))
    a1 = m.rmsnorm(h1, "model.layers.1.input_layernorm.weight", m.eps)
    y1 = m.rmsnorm(h1 + m.attention("model.layers.1.self_attn", a1, pos),
                   "model.layers.1.post_attention_layernorm.weight", m.eps)
    out["moe_x"], out["moe_out"] = f32(y1), f32(m.moe("model.layers.1.mlp", y1))

    logits, hn = m.forward(IDS)
    out["forward_ids"] = np.array(IDS, dtype=np.int32)
    out["forward_hidden"], out["forward_logits"] = f32(hn), f32(logits)

    fields = dict(dense_layer=dense, moe_layer=moe, T=T, decode_position=T)
    if m.n_mtp:
        # MTP module 1 (README "MTP"): rows i = 0..T-2 combine h_i (post model.norm) with t_{i+1}.
        L = m.n_layers
        pre = f"model.layers.{L}"
        n = T - 1
        e = m.mtp_tensor(L, "embed_tokens.weight", "model.embed_tokens.weight")[ids[1:]]
        xm = torch.cat([m.rmsnorm(e, pre + ".enorm.weight", m.eps),
                        m.rmsnorm(hn[:n], pre + ".hnorm.weight", m.eps)], -1) @ m.W(pre + ".eh_proj.weight").T
        hb = m.block(L, xm, torch.arange(n))
        mtp_logits = m.rmsnorm(hb, pre + ".shared_head.norm.weight", m.eps) @ \
            m.mtp_tensor(L, "shared_head.head.weight", "lm_head.weight").T
        # the same through the reference's own MTP entry point (a wiring cross-check)
        assert ref._rel(mtp_logits, m.mtp_forward(IDS, hn, 1)) < 1e-6
        out["mtp_h"], out["mtp_next_ids"] = f32(hn[:n]), ids[1:].to(torch.int32).numpy()
        out["mtp_hidden"], out["mtp_logits"] = f32(hb), f32(mtp_logits)
    fields["min_gate_margin"] = rec.min
    if rec.min < MIN_MARGIN:
        raise RuntimeError(f"{ckpt}: a real token's routing margin is {rec.min:.2e} < {MIN_MARGIN}; "
                           "choose other IDS")
    fields["has_mtp"] = bool(m.n_mtp)
    return out, fields


def write_preset(preset, seed, out_dir, ckpt_dir):
    mk.write_checkpoint(ckpt_dir, preset, seed)
    rng = np.random.RandomState(1000 + seed)
    arrays, fields = layer_fixtures(ckpt_dir, rng)
    os.makedirs(out_dir, exist_ok=True)
    for fn in os.listdir(out_dir):
        if fn.endswith(".npy"):
            os.remove(os.path.join(out_dir, fn))
    for name, a in sorted(arrays.items()):
        np.save(os.path.join(out_dir, name + ".npy"), a)
    manifest = dict(
        preset=preset, seed=seed,
        generator="tests/reference/make_hf_checkpoint.py --preset {} --seed {}".format(preset, seed),
        checksum={fn: file_checksum(os.path.join(ckpt_dir, fn)) for fn in ("config.json", "model.safetensors")},
        **fields)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest


def compare_dirs(a, b, rtol=1e-6):
    """True iff both fixture folders hold the same files: integer arrays and the manifest
    (except the informational min_gate_margin) identical, float arrays within rtol*max|a|
    (another CPU's BLAS may sum in another order)."""
    fa, fb = sorted(os.listdir(a)), sorted(os.listdir(b))
    if fa != fb:
        print(f"file lists differ: {fa} vs {fb}")
        return False
    ok = True
    for fn in fa:
        pa, pb = os.path.join(a, fn), os.path.join(b, fn)
        if fn.endswith(".npy"):
            x, y = np.load(pa), np.load(pb)
            if x.dtype != y.dtype or x.shape != y.shape:
                same = False
            elif x.dtype.kind == "f":
                same = float(np.abs(x - y).max(initial=0)) <= rtol * float(np.abs(x).max(initial=0))
            else:
                same = bool(np.array_equal(x, y))
        else:
            with open(pa) as f, open(pb) as g:
                x, y = json.load(f), json.load(g)
            x.pop("min_gate_margin", None)
            y.pop("min_gate_margin", None)
            same = x == y
        if not same:
            print(f"differs: {pa}")
            ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "fixtures", "layers"))
    ap.add_argument("--keep-checkpoints", help="write the checkpoints here instead of a temp dir")
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare with --out")
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)  # summation order independent of the machine's core count
    work = tempfile.mkdtemp(prefix="dsv3_layer_fixtures_")
    try:
        ok = True
        for preset, seed in PRESETS:
            ckpt = os.path.join(a.keep_checkpoints or work, preset)
            dest = os.path.join(work, "fixtures", preset) if a.check else os.path.join(a.out, preset)
            man = write_preset(preset, seed, dest, ckpt)
            print(f"{preset}: {dest} (min gate margin {man['min_gate_margin']:.2e})")
            if a.check:
                ok &= compare_dirs(os.path.join(a.out, preset), dest)
        if a.check:
            print("fixtures up to date" if ok else "fixtures STALE: rerun layer_fixtures.py")
            sys.exit(0 if ok else 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
