#!/usr/bin/env -S /usr/bin/python3
"""Independent float32 (or float64) reference for DeepSeek-V2/V3 Hugging Face checkpoints.

Reads a Hugging Face model folder (config.json + model.safetensors, or shards listed in
model.safetensors.index.json; F32/F16/BF16/F8_E4M3 with 128x128 `weight_scale_inv` blocks) and
computes what the official DeepSeek-V3 inference/model.py and the HF modeling code compute.
The conventions (rope pairing, YaRN mscale, gate rules, MTP wiring) are documented in README.md
next to this file; comments below cite the config field or paper section they implement.

  deepseek_reference.py logits   --model DIR --ids 1,2,3 --out main.npy [--mtp-out mtp.npy]
  deepseek_reference.py generate --model DIR --ids 1,2,3 -n 16
  deepseek_reference.py selftest --model DIR [--ids ...]

Dimension letters: T tokens, D hidden, H heads, Dn/Dr/Dv nope/rope/value head dims,
Rq/Rkv q and kv LoRA ranks, E experts, K top-k, G groups, V vocab.
Only torch and numpy are used (Debian python3-torch 1.13); safetensors is parsed by hand.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

# ----------------------------------------------------------------------------------------------
# safetensors + dtypes
# ----------------------------------------------------------------------------------------------
_RAW_NP = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
    "F8_E4M3": np.uint8, "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U8": np.uint8, "BOOL": np.bool_,
}


def e4m3fn_table():
    """All 256 float8 e4m3fn codes as float32: bias 7, no inf, S.1111.111 is NaN, max 448."""
    code = np.arange(256, dtype=np.int64)
    sign = (code >> 7) & 1
    exp = (code >> 3) & 15
    man = (code & 7).astype(np.float64)
    val = np.where(exp == 0, man / 8.0 * 2.0 ** -6, (1.0 + man / 8.0) * np.power(2.0, exp - 7))
    val = np.where(sign == 1, -val, val)
    val[(exp == 15) & (code & 7 == 7)] = np.nan
    return val.astype(np.float32)


E4M3FN = e4m3fn_table()


def read_safetensors(path):
    """Returns {name: (dtype string, raw numpy array with the stored bits, shape)}."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if 8 + hlen > len(blob):
        raise ValueError(f"{path}: header length {hlen} exceeds file size")
    header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt, shape, (a, b) = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in _RAW_NP:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dt}")
        npdt = np.dtype(_RAW_NP[dt])
        n = int(np.prod(shape)) if shape else 1
        if b - a != n * npdt.itemsize:
            raise ValueError(f"{path}: tensor {name} has {b - a} bytes, shape {shape} {dt} needs {n * npdt.itemsize}")
        arr = np.frombuffer(blob, dtype=npdt, count=n, offset=base + a).reshape(shape)
        out[name] = (dt, arr)
    return out


def raw_to_float(dt, arr):
    """Widens stored bits to float64 numpy exactly (bf16 = upper half of an f32; fp8 via table)."""
    if dt == "BF16":
        return (arr.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    if dt == "F8_E4M3":
        return E4M3FN[arr].astype(np.float64)
    return arr.astype(np.float64)


def block_dequant(w, scale_inv, block):
    """W_real[r, c] = W[r, c] * scale_inv[r // br, c // bc]; edge blocks may be partial."""
    br, bc = block
    rows, cols = w.shape
    want = (-(-rows // br), -(-cols // bc))
    if tuple(scale_inv.shape) != want:
        raise ValueError(f"weight_scale_inv shape {tuple(scale_inv.shape)} != {want} for weight {w.shape}")
    full = np.repeat(np.repeat(scale_inv, br, axis=0), bc, axis=1)[:rows, :cols]
    return w * full


def load_weights(folder, cfg, dtype):
    """All tensors of the folder as torch `dtype`, FP8 weights already dequantised."""
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        files = sorted(set(weight_map.values()))
    else:
        files = sorted(p for p in os.listdir(folder) if p.endswith(".safetensors"))
        weight_map = None
    if not files:
        raise ValueError(f"{folder}: no .safetensors files")
    raw = {}
    for fn in files:
        for name, val in read_safetensors(os.path.join(folder, fn)).items():
            if name in raw:
                raise ValueError(f"{folder}: tensor {name} appears in more than one shard")
            if weight_map is not None and weight_map.get(name) != fn:
                raise ValueError(f"{folder}: tensor {name} is in {fn} but the index says {weight_map.get(name)}")
            raw[name] = val
    if weight_map is not None:
        missing = set(weight_map) - set(raw)
        if missing:
            raise ValueError(f"{folder}: index lists tensors not found in shards: {sorted(missing)[:5]}")
    qcfg = cfg.get("quantization_config") or {}
    block = tuple(qcfg.get("weight_block_size") or (128, 128))
    weights = {}
    for name, (dt, arr) in raw.items():
        if name.endswith("_scale_inv"):
            if name[: -len("_scale_inv")] not in raw:
                raise ValueError(f"{folder}: {name} has no matching weight")
            continue
        w = raw_to_float(dt, arr)
        sname = name + "_scale_inv"
        if sname in raw:
            w = block_dequant(w, raw_to_float(*raw[sname]), block)
        elif dt == "F8_E4M3":
            raise ValueError(f"{folder}: FP8 tensor {name} has no {sname}")
        weights[name] = torch.from_numpy(np.ascontiguousarray(w)).to(dtype)
    return weights


# ----------------------------------------------------------------------------------------------
# RoPE / YaRN (README "RoPE pairing", "YaRN")
# ----------------------------------------------------------------------------------------------
def yarn_mscale(factor, m):
    return 1.0 if factor <= 1 else 0.1 * m * math.log(factor) + 1.0


def rope_inv_freq(cfg, dtype):
    """Per-pair inverse frequencies [Dr/2] (YaRN-blended when rope_scaling is yarn)."""
    dim, base = cfg["qk_rope_head_dim"], float(cfg.get("rope_theta", 10000.0))
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=dtype) / dim))
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv
    kind = rs.get("rope_type", rs.get("type"))
    if kind != "yarn":
        raise ValueError(f"rope_scaling type {kind!r} not supported (only yarn)")
    factor = float(rs["factor"])
    orig = float(rs.get("original_max_position_embeddings", 4096))
    beta_fast, beta_slow = float(rs.get("beta_fast", 32)), float(rs.get("beta_slow", 1))

    def corr_dim(rot):  # dimension index whose wavelength makes `rot` turns over `orig` tokens
        return dim * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(base))

    low = max(math.floor(corr_dim(beta_fast)), 0)
    high = min(math.ceil(corr_dim(beta_slow)), dim - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(dim // 2, dtype=dtype) - low) / (high - low), 0, 1)
    smooth = 1 - ramp  # 1 = keep original frequency (extrapolate), 0 = interpolate by factor
    return inv / factor * (1 - smooth) + inv * smooth


def rope_scales(cfg):
    """(softmax scale, cos/sin factor) — HF semantics; equal to official when mscale == mscale_all_dim."""
    scale = (cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]) ** -0.5
    rs = cfg.get("rope_scaling")
    if not rs:
        return scale, 1.0
    factor = float(rs["factor"])
    m, m_all = rs.get("mscale"), rs.get("mscale_all_dim")
    if m_all:
        scale *= yarn_mscale(factor, m_all) ** 2
    if m and m_all:
        cs = yarn_mscale(factor, m) / yarn_mscale(factor, m_all)
    else:
        cs = yarn_mscale(factor, 1.0)  # HF default when a field is missing (official: 1.0)
    if m != m_all:
        print(f"warning: mscale {m} != mscale_all_dim {m_all}: official model.py and HF disagree; "
              "following HF", file=sys.stderr)
    return scale, cs


def apply_rope(x, cos, sin, interleave):
    """x [..., T, *, Dr] rotated per pair; cos/sin [T, Dr/2] already broadcast by the caller."""
    if interleave:  # pairs (2i, 2i+1): official view_as_complex convention
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)
    half = x.shape[-1] // 2  # pairs (i, i + Dr/2): rotate_half convention (rope_interleave=false)
    x0, x1 = x[..., :half], x[..., half:]
    return torch.cat((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------
class LayerCache:
    """Latent MLA cache of one layer: normalised c_kv [S, Rkv] and roped k_pe [S, Dr]."""

    def __init__(self):
        self.c = None
        self.k_pe = None


class DeepSeekReference:
    def __init__(self, folder, dtype=torch.float32, mtp_mask_pos0=False):
        with open(os.path.join(folder, "config.json")) as f:
            self.cfg = cfg = json.load(f)
        self.dtype = dtype
        self.w = load_weights(folder, cfg, dtype)
        arch = (cfg.get("architectures") or [""])[0]
        mtype = cfg.get("model_type", "")
        self.is_v3 = "V3" in arch or mtype == "deepseek_v3"
        if not self.is_v3 and not ("V2" in arch or mtype == "deepseek_v2"):
            raise ValueError(f"unsupported architecture {arch!r} / model_type {mtype!r}")
        self.D = cfg["hidden_size"]
        self.H = cfg["num_attention_heads"]
        self.Dn, self.Dr, self.Dv = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
        self.Rq, self.Rkv = cfg.get("q_lora_rank"), cfg["kv_lora_rank"]
        self.n_layers = cfg["num_hidden_layers"]
        self.n_mtp = int(cfg.get("num_nextn_predict_layers", 0) or 0)
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.interleave = bool(cfg.get("rope_interleave", True))
        self.inv_freq = rope_inv_freq(cfg, dtype)
        self.softmax_scale, self.cs_scale = rope_scales(cfg)
        self.mtp_mask_pos0 = mtp_mask_pos0
        self.router_log = None  # a list to record (scores s [T, E], chosen [T, K]) per gate call (grad_reference.py)
        if cfg.get("hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act {cfg.get('hidden_act')} not supported")

    # -- primitives --------------------------------------------------------------------------
    def W(self, name):
        if name not in self.w:
            raise KeyError(f"checkpoint has no tensor {name}")
        return self.w[name]

    def linear(self, x, prefix):
        y = x @ self.W(prefix + ".weight").T
        b = self.w.get(prefix + ".bias")
        return y if b is None else y + b

    def rmsnorm(self, x, name, eps):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.W(name) * (x * torch.rsqrt(var + eps))

    def rope(self, x, positions):
        ang = positions.to(self.dtype)[:, None] * self.inv_freq[None, :]  # [T, Dr/2]
        cos, sin = torch.cos(ang) * self.cs_scale, torch.sin(ang) * self.cs_scale
        if x.dim() == 3:  # [T, H, Dr]
            cos, sin = cos[:, None, :], sin[:, None, :]
        return apply_rope(x, cos, sin, self.interleave)

    def is_moe(self, layer):
        c = self.cfg
        return (c.get("n_routed_experts") is not None and layer >= c.get("first_k_dense_replace", 0)
                and layer % c.get("moe_layer_freq", 1) == 0)

    # -- MLA (V3 report 2.1.1) ---------------------------------------------------------------
    def attention(self, p, x, positions, mode="naive", cache=None):
        """x [T, D] (already input_layernorm'ed); positions [T]; returns [T, D]."""
        T, H, Dn, Dr, Dv = x.shape[0], self.H, self.Dn, self.Dr, self.Dv
        if self.Rq is None:
            q = self.linear(x, p + ".q_proj")
        else:  # q_a_layernorm: HF builds it without eps -> 1e-6 (README "RMSNorm")
            q = self.linear(self.rmsnorm(self.linear(x, p + ".q_a_proj"), p + ".q_a_layernorm.weight", 1e-6),
                            p + ".q_b_proj")
        q = q.view(T, H, Dn + Dr)
        q_nope, q_pe = q[..., :Dn], self.rope(q[..., Dn:], positions)
        kv = self.linear(x, p + ".kv_a_proj_with_mqa")  # [T, Rkv + Dr]
        c = self.rmsnorm(kv[:, :self.Rkv], p + ".kv_a_layernorm.weight", 1e-6)  # [T, Rkv]
        k_pe = self.rope(kv[:, self.Rkv:], positions)  # [T, Dr] shared by all heads
        if cache is not None:
            if cache.c is not None:
                c, k_pe = torch.cat([cache.c, c]), torch.cat([cache.k_pe, k_pe])
            cache.c, cache.k_pe = c, k_pe
        S = c.shape[0]
        key_pos = torch.arange(S)
        mask = key_pos[None, :] > positions[:, None]  # [T, S] causal (positions are absolute)
        wkv = self.W(p + ".kv_b_proj.weight").view(H, Dn + Dv, self.Rkv)
        w_uk, w_uv = wkv[:, :Dn], wkv[:, Dn:]
        if mode == "naive":  # materialise per-head k and v, one dot product over Dn+Dr
            k_nope = torch.einsum("sc,hdc->shd", c, w_uk)
            v = torch.einsum("sc,hdc->shd", c, w_uv)
            k = torch.cat([k_nope, k_pe[:, None, :].expand(S, H, Dr)], dim=-1)
            qf = torch.cat([q_nope, q_pe], dim=-1)
            scores = torch.einsum("thd,shd->hts", qf, k) * self.softmax_scale
        elif mode == "absorbed":  # W_UK folded into q, W_UV applied after attention (latent space)
            q_lat = torch.einsum("thd,hdc->thc", q_nope, w_uk)
            scores = (torch.einsum("thc,sc->hts", q_lat, c) +
                      torch.einsum("thr,sr->hts", q_pe, k_pe)) * self.softmax_scale
        else:
            raise ValueError(mode)
        scores = scores.masked_fill(mask[None], float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        if mode == "naive":
            o = torch.einsum("hts,shd->thd", probs, v)
        else:
            o = torch.einsum("thc,hdc->thd", torch.einsum("hts,sc->thc", probs, c), w_uv)
        return self.linear(o.reshape(T, H * Dv), p + ".o_proj")

    # -- FFN --------------------------------------------------------------------------------
    def mlp(self, p, x):
        return self.linear(torch.nn.functional.silu(self.linear(x, p + ".gate_proj")) *
                           self.linear(x, p + ".up_proj"), p + ".down_proj")

    def gate(self, p, x):
        """Returns (expert indices [T, K], weights [T, K]) — README "MoE gate"."""
        c = self.cfg
        E, K = c["n_routed_experts"], c["num_experts_per_tok"]
        gdt = torch.float64 if self.dtype == torch.float64 else torch.float32
        z = x.to(gdt) @ self.W(p + ".gate.weight").to(gdt).T  # [T, E]
        func = c.get("scoring_func", "sigmoid" if self.is_v3 else "softmax")
        s = torch.sigmoid(z) if func == "sigmoid" else torch.softmax(z, dim=-1)
        method = c.get("topk_method", "noaux_tc" if self.is_v3 else "greedy")
        G = int(c.get("n_group") or 1)
        choice = s
        if method == "noaux_tc":
            choice = s + self.W(p + ".gate.e_score_correction_bias").to(gdt)
        if method in ("noaux_tc", "group_limited_greedy") and G > 1:
            grouped = choice.view(-1, G, E // G)
            if method == "noaux_tc":
                gscore = grouped.topk(2, dim=-1).values.sum(-1)  # [T, G]
            else:
                gscore = grouped.max(dim=-1).values
            keep = gscore.topk(int(c["topk_group"]), dim=-1).indices
            drop = torch.ones_like(gscore, dtype=torch.bool).scatter_(1, keep, False)
            choice = grouped.masked_fill(drop[..., None], float("-inf")).view(-1, E)
        elif method not in ("noaux_tc", "group_limited_greedy", "greedy"):
            raise ValueError(f"topk_method {method!r} not supported")
        idx = choice.topk(K, dim=-1).indices
        if self.router_log is not None:
            self.router_log.append((s, idx))
        w = s.gather(1, idx)
        rsf = float(c.get("routed_scaling_factor", 1.0))
        norm = bool(c.get("norm_topk_prob", False))
        if self.is_v3:  # HF V3: optional normalisation, then always scale
            if norm:
                w = w / (w.sum(-1, keepdim=True) + 1e-20)
            w = w * rsf
        else:  # HF V2: normalise (no scale) or scale
            if K > 1 and norm:
                w = w / (w.sum(-1, keepdim=True) + 1e-20)
            else:
                w = w * rsf
        return idx, w.to(self.dtype)

    def moe(self, p, x):
        idx, w = self.gate(p, x)
        out = torch.zeros_like(x)
        for e in torch.unique(idx).tolist():
            rows, slot = torch.nonzero(idx == e, as_tuple=True)
            out.index_add_(0, rows, self.mlp(f"{p}.experts.{e}", x[rows]) * w[rows, slot, None])
        if self.cfg.get("n_shared_experts"):
            out = out + self.mlp(p + ".shared_experts", x)
        return out

    # -- blocks -----------------------------------------------------------------------------
    def block(self, layer, x, positions, mode="naive", cache=None):
        p = f"model.layers.{layer}"
        h = x + self.attention(p + ".self_attn", self.rmsnorm(x, p + ".input_layernorm.weight", self.eps),
                               positions, mode, cache)
        y = self.rmsnorm(h, p + ".post_attention_layernorm.weight", self.eps)
        return h + (self.moe(p + ".mlp", y) if self.is_moe(layer) else self.mlp(p + ".mlp", y))

    def forward(self, ids, positions=None, mode="naive", caches=None):
        """Main model. Returns (logits [T, V], final hidden AFTER model.norm [T, D])."""
        ids = torch.as_tensor(ids, dtype=torch.long)
        if positions is None:
            positions = torch.arange(len(ids))
        h = self.W("model.embed_tokens.weight")[ids]
        for layer in range(self.n_layers):
            h = self.block(layer, h, positions, mode, None if caches is None else caches[layer])
        hn = self.rmsnorm(h, "model.norm.weight", self.eps)
        return hn @ self.W("lm_head.weight").T, hn

    def mtp_tensor(self, layer, name, fallback):
        own = f"model.layers.{layer}.{name}"
        return self.w[own] if own in self.w else self.W(fallback)

    def mtp_step(self, k, tokens, h_prev, positions, mode="naive", cache=None):
        """MTP module k (README "MTP"): tokens t_{i+k} [N], h_prev = h_i^{k-1} (post-norm) [N, D]."""
        layer = self.n_layers + k - 1
        p = f"model.layers.{layer}"
        e = self.mtp_tensor(layer, "embed_tokens.weight", "model.embed_tokens.weight")[tokens]
        if self.mtp_mask_pos0:  # vLLM variant, off by default
            e = e.masked_fill((positions == 0)[:, None], 0.0)
        x = torch.cat([self.rmsnorm(e, p + ".enorm.weight", self.eps),
                       self.rmsnorm(h_prev, p + ".hnorm.weight", self.eps)], dim=-1) @ self.W(p + ".eh_proj.weight").T
        x = self.block(layer, x, positions, mode, cache)
        hn = self.rmsnorm(x, p + ".shared_head.norm.weight", self.eps)
        return hn @ self.mtp_tensor(layer, "shared_head.head.weight", "lm_head.weight").T, hn

    def mtp_forward(self, ids, h_main, depth=1, mode="naive"):
        """Logits of MTP module `depth` at rows i = 0..T-1-depth (predicting t_{i+depth+1})."""
        if depth > self.n_mtp:
            raise ValueError(f"checkpoint has {self.n_mtp} MTP modules, asked for module {depth}")
        ids = torch.as_tensor(ids, dtype=torch.long)
        T = len(ids)
        h = h_main
        for k in range(1, depth + 1):
            n = T - k
            logits, h = self.mtp_step(k, ids[k:], h[:n], torch.arange(n), mode)
        return logits

    def generate(self, ids, n):
        ids = list(ids)
        out = []
        for _ in range(n):
            logits, _ = self.forward(ids)
            nxt = int(torch.argmax(logits[-1]).item())
            out.append(nxt)
            ids.append(nxt)
        return out


# ----------------------------------------------------------------------------------------------
# Self-test: second formulations of the same maths
# ----------------------------------------------------------------------------------------------
def _rel(a, b):
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / max(float(a.abs().max()), 1e-30))


def gate_bruteforce(model, p, x):
    """Per-token python loops (no topk/masked_fill) for the gate selection and weights."""
    c = model.cfg
    E, K, G = c["n_routed_experts"], c["num_experts_per_tok"], int(c.get("n_group") or 1)
    z = (x.double() @ model.W(p + ".gate.weight").double().T).tolist()
    bias = model.w.get(p + ".gate.e_score_correction_bias")
    method = c.get("topk_method", "noaux_tc" if model.is_v3 else "greedy")
    res = []
    for row in z:
        if c.get("scoring_func", "sigmoid" if model.is_v3 else "softmax") == "sigmoid":
            s = [1 / (1 + math.exp(-v)) for v in row]
        else:
            mx = max(row)
            ex = [math.exp(v - mx) for v in row]
            s = [v / sum(ex) for v in ex]
        b = [s[e] + (float(bias[e]) if method == "noaux_tc" else 0.0) for e in range(E)]
        allowed = set(range(E))
        if method != "greedy" and G > 1:
            per = E // G
            gs = []
            for g in range(G):
                vals = sorted(b[g * per:(g + 1) * per], reverse=True)
                gs.append((sum(vals[:2]) if method == "noaux_tc" else vals[0], g))
            kept = [g for _, g in sorted(gs, reverse=True)[: c["topk_group"]]]
            allowed = {e for e in range(E) if e // per in kept}
        chosen = sorted(allowed, key=lambda e: -b[e])[:K]
        w = [s[e] for e in chosen]
        rsf, norm = c.get("routed_scaling_factor", 1.0), c.get("norm_topk_prob", False)
        if model.is_v3:
            w = [v / sum(w) * rsf for v in w] if norm else [v * rsf for v in w]
        else:
            w = [v / sum(w) for v in w] if (K > 1 and norm) else [v * rsf for v in w]
        res.append(dict(zip(chosen, w)))
    return res


def selftest(model, ids):
    ok = True

    def check(name, err, tol):
        nonlocal ok
        good = err <= tol
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {name}: rel err {err:.3e} (tol {tol:.0e})")

    tol = 1e-9 if model.dtype == torch.float64 else 2e-5
    ids_t = torch.tensor(ids)
    T = len(ids)
    naive, h_naive = model.forward(ids, mode="naive")
    absorbed, _ = model.forward(ids, mode="absorbed")
    check("naive vs absorbed MLA logits", _rel(naive, absorbed), tol)

    # incremental decode with the latent cache, one token at a time
    caches = [LayerCache() for _ in range(model.n_layers)]
    rows = [model.forward(ids[t:t + 1], positions=torch.tensor([t]), mode="absorbed", caches=caches)[0]
            for t in range(T)]
    check("full forward vs cached decode", _rel(naive, torch.cat(rows)), tol)
    # chunked prefill: two chunks
    caches = [LayerCache() for _ in range(model.n_layers)]
    half = T // 2
    a = model.forward(ids[:half], positions=torch.arange(half), caches=caches)[0]
    b = model.forward(ids[half:], positions=torch.arange(half, T), caches=caches)[0]
    check("full forward vs chunked prefill", _rel(naive, torch.cat([a, b])), tol)

    # RoPE: official complex formulation and HF de-interleave + rotate_half formulation
    x = torch.randn(T, model.H, model.Dr, dtype=model.dtype)
    ours = model.rope(x, ids_t.new_tensor(range(T)))
    if model.interleave:
        ang = torch.arange(T).to(model.dtype)[:, None] * model.inv_freq[None, :]
        cdt = torch.complex128 if model.dtype == torch.float64 else torch.complex64
        fc = torch.polar(torch.ones_like(ang), ang).to(cdt)[:, None, :]
        off = torch.view_as_real(torch.view_as_complex(x.reshape(T, model.H, -1, 2).contiguous()) * fc)
        check("rope vs complex (official) form", _rel(ours, off.flatten(-2) * model.cs_scale), tol)
        perm = x.view(T, model.H, -1, 2).transpose(-1, -2).reshape(T, model.H, model.Dr)
        emb = torch.cat([ang, ang], -1)[:, None, :]
        rot = torch.cat([-perm[..., model.Dr // 2:], perm[..., :model.Dr // 2]], -1)
        hf = (perm * emb.cos() + rot * emb.sin()) * model.cs_scale
        # HF output is in de-interleaved order: re-interleave to compare
        hf = hf.view(T, model.H, 2, -1).transpose(-1, -2).reshape(T, model.H, model.Dr)
        check("rope vs HF rotate_half form", _rel(ours, hf), tol)

    # gate vs per-token python loops, on the first MoE layer's real input distribution
    moe_layers = [l for l in range(model.n_layers) if model.is_moe(l)]
    if moe_layers:
        p = f"model.layers.{moe_layers[0]}.mlp"
        xs = torch.randn(64, model.D, dtype=model.dtype)
        idx, w = model.gate(p, xs)
        ref = gate_bruteforce(model, p, xs)
        same_sel = all(set(idx[t].tolist()) == set(ref[t]) for t in range(64))
        werr = max(abs(float(w[t, j]) - ref[t][int(idx[t, j])]) for t in range(64) for j in range(idx.shape[1])
                   if int(idx[t, j]) in ref[t]) if same_sel else 1.0
        check("gate selection + weights vs python loops", 0.0 if same_sel and werr < 1e-5 else 1.0, 0.0)
        if model.cfg.get("topk_method") == "noaux_tc":
            plain = torch.sigmoid(xs.float() @ model.W(p + ".gate.weight").float().T)
            unbiased = plain.topk(idx.shape[1], dim=-1).indices
            changed = sum(set(idx[t].tolist()) != set(unbiased[t].tolist()) for t in range(64))
            print(f"info e_score_correction_bias changes the selection for {changed}/64 random tokens")

    if model.n_mtp:
        mtp = model.mtp_forward(ids, h_naive, 1, mode="naive")
        mtp_abs = model.mtp_forward(ids, h_naive, 1, mode="absorbed")
        check("MTP naive vs absorbed", _rel(mtp, mtp_abs), tol)
        cache = LayerCache()
        rows = [model.mtp_step(1, ids_t[i + 1:i + 2], h_naive[i:i + 1], torch.tensor([i]), "absorbed", cache)[0]
                for i in range(T - 1)]
        check("MTP full vs cached decode", _rel(mtp, torch.cat(rows)), tol)
    am = naive.argmax(-1)
    print(f"info argmax per position: {am.tolist()} (distinct {len(set(am.tolist()))}); "
          f"max|logit| {float(naive.abs().max()):.3f}")
    return ok


# ----------------------------------------------------------------------------------------------
def parse_ids(s):
    try:
        ids = [int(v) for v in s.split(",") if v.strip() != ""]
    except ValueError:
        raise SystemExit(f"error: --ids must be comma-separated integers, got {s!r}")
    if not ids:
        raise SystemExit("error: --ids is empty")
    return ids


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("logits", "generate", "selftest"):
        sp = sub.add_parser(name)
        sp.add_argument("--model", required=True)
        sp.add_argument("--ids", required=(name != "selftest"), default="1,17,5,99,3,42,7,64,8,250,11,2")
        sp.add_argument("--float64", action="store_true", help="compute in float64 instead of float32")
        sp.add_argument("--mtp-mask-pos0", action="store_true",
                        help="zero the MTP embedding at position 0 (vLLM variant; off = paper/SGLang)")
        if name == "logits":
            sp.add_argument("--out", required=True)
            sp.add_argument("--mtp-out")
        if name == "generate":
            sp.add_argument("-n", type=int, default=16)
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    torch.manual_seed(0)
    dtype = torch.float64 if args.float64 else torch.float32
    try:
        model = DeepSeekReference(args.model, dtype, args.mtp_mask_pos0)
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"error: {e}")
    ids = parse_ids(args.ids)
    V = model.cfg["vocab_size"]
    if any(i < 0 or i >= V for i in ids):
        raise SystemExit(f"error: token id out of range [0, {V})")
    if args.cmd == "logits":
        logits, h = model.forward(ids)
        np.save(args.out, logits.float().numpy().astype(np.float32))
        if args.mtp_out:
            if model.n_mtp < 1:
                raise SystemExit("error: --mtp-out given but the checkpoint has no MTP module")
            if len(ids) < 2:
                raise SystemExit("error: --mtp-out needs at least 2 tokens")
            np.save(args.mtp_out, model.mtp_forward(ids, h, 1).float().numpy().astype(np.float32))
    elif args.cmd == "generate":
        print(json.dumps(model.generate(ids, args.n)))
    else:
        sys.exit(0 if selftest(model, ids) else 1)


if __name__ == "__main__":
    main()
