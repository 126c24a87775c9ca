#!/usr/bin/env -S /usr/bin/python3
"""Whole-model training loss and gradients by torch autograd (float64), the reference for `dsv3 grad`.

The model is deepseek_reference.py's DeepSeekReference (itself checked against the official
DeepSeek-V3 inference/model.py); only the loss terms are added here (DeepSeek-V3 report 2.1.2, 2.2):

  loss = CE + λ · (1/Dm) Σ_k CE_k + Σ_{MoE layers} α · Σ_i f_i · P_i
  CE     mean next-token cross-entropy over positions 0..T-2
  CE_k   MTP module k (rows i = 0..T-k-1, input hidden h_i of depth k-1 — the final-normed main
         hidden for k = 1, module k-1's block output (before shared_head.norm) for k ≥ 2, as
         src/model/transformer.cpp chains them — and Emb(t_{i+k})), mean CE over rows with a
         target t_{i+k+1}, i.e. i = 0..T-k-2
  f_i    E/(K·T) · #{t : expert i chosen for token t}       (no gradient)
  P_i    (1/T) Σ_t s_{i,t} / Σ_j s_{j,t}                     (s: unbiased router scores)
  every MoE layer counts, the MTP modules' blocks included; one sequence (B = 1).

  grad_reference.py grad    --model DIR --ids 1,2,3 --out ref.safetensors [--mtp-lambda L] [--aux-alpha A]
  grad_reference.py compare REF.safetensors OURS.safetensors [--tol 1e-3]

`grad` writes the float32 gradient of every tensor (zeros where autograd gives none, e.g.
e_score_correction_bias and never-chosen experts) and prints the loss as its last line.
`compare` checks ‖g − g_ref‖ / ‖g_ref‖ ≤ tol per tensor (‖g‖ ≤ tol·max‖g_ref‖ when g_ref = 0) and
that both files hold the same names; prints the worst tensors; exit 1 on failure.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deepseek_reference import DeepSeekReference, parse_ids, read_safetensors  # noqa: E402


def balance_loss(s, idx, alpha, E):
    """Sequence-wise balance loss of one gate call: s [T, E] scores, idx [T, K] chosen experts."""
    T, K = idx.shape
    counts = torch.zeros(E, dtype=s.dtype).scatter_add_(0, idx.reshape(-1), torch.ones(T * K, dtype=s.dtype))
    f = counts * (E / (K * T))
    P = (s / s.sum(-1, keepdim=True)).mean(0)
    return alpha * (f * P).sum()


def training_loss(model, ids, mtp_lambda, aux_alpha):
    E = model.cfg.get("n_routed_experts") or 0
    model.router_log = []
    ids_t = torch.as_tensor(ids, dtype=torch.long)
    T = len(ids)
    logits, h = model.forward(ids)
    ce = Fn.cross_entropy(logits[:-1], ids_t[1:])
    mtp_terms = []
    for k in range(1, model.n_mtp + 1):
        n = T - k
        if n < 1:
            break
        layer = model.n_layers + k - 1
        p = f"model.layers.{layer}"
        e = model.mtp_tensor(layer, "embed_tokens.weight", "model.embed_tokens.weight")[ids_t[k:]]
        x = torch.cat([model.rmsnorm(e, p + ".enorm.weight", model.eps),
                       model.rmsnorm(h[:n], p + ".hnorm.weight", model.eps)], dim=-1) @ model.W(p + ".eh_proj.weight").T
        x = model.block(layer, x, torch.arange(n))
        hn = model.rmsnorm(x, p + ".shared_head.norm.weight", model.eps)
        lk = hn @ model.mtp_tensor(layer, "shared_head.head.weight", "lm_head.weight").T
        mtp_terms.append(Fn.cross_entropy(lk[:-1], ids_t[k + 1:]) if n >= 2 else lk.sum() * 0.0)
        h = x  # next depth: this module's block output
    mtp = torch.stack(mtp_terms).sum() / model.n_mtp if model.n_mtp else torch.zeros((), dtype=model.dtype)
    bal = torch.zeros((), dtype=model.dtype)
    if aux_alpha != 0.0:
        for s, idx in model.router_log:
            bal = bal + balance_loss(s, idx, aux_alpha, E)
    model.router_log = None
    total = ce + mtp_lambda * mtp + bal
    return total, {"ce": float(ce), "mtp": float(mtp), "balance": float(bal)}


def write_f32_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def cmd_grad(a):
    model = DeepSeekReference(a.model, torch.float64)
    for w in model.w.values():
        w.requires_grad_(True)
    ids = parse_ids(a.ids)
    if len(ids) < 2:
        raise SystemExit("error: --ids needs at least 2 tokens")
    total, parts = training_loss(model, ids, a.mtp_lambda, a.aux_alpha)
    total.backward()
    grads = {n: (w.grad if w.grad is not None else torch.zeros_like(w)).detach().numpy() for n, w in model.w.items()}
    write_f32_safetensors(a.out, grads)
    print(json.dumps({**parts, "mtp_lambda": a.mtp_lambda, "aux_alpha": a.aux_alpha, "tensors": len(grads)}))
    print(f"{float(total):.12g}")


def load_f32(path):
    out = {}
    for name, (dt, arr) in read_safetensors(path).items():
        if dt != "F32":
            raise SystemExit(f"error: {path}: tensor {name} is {dt}, expected F32")
        out[name] = arr.astype(np.float64)
    return out


def cmd_compare(a):
    ref, ours = load_f32(a.ref), load_f32(a.ours)
    ok = True
    missing, extra = sorted(set(ref) - set(ours)), sorted(set(ours) - set(ref))
    if missing or extra:
        ok = False
        print(f"FAIL names differ: missing in ours {missing[:5]} ({len(missing)}), extra {extra[:5]} ({len(extra)})")
    scale = max((float(np.linalg.norm(v)) for v in ref.values()), default=1.0)
    rows = []
    for name in sorted(set(ref) & set(ours)):
        r, o = ref[name], ours[name]
        if r.shape != o.shape:
            ok = False
            print(f"FAIL {name}: shape {o.shape} != reference {r.shape}")
            continue
        nr, nd = float(np.linalg.norm(r)), float(np.linalg.norm(o - r))
        err = nd / nr if nr > 0 else nd / scale
        rows.append((err, name, nr))
    rows.sort(reverse=True)
    bad = [x for x in rows if not x[0] <= a.tol]
    ok &= not bad
    zero = sum(1 for x in rows if x[2] == 0)
    print(f"{len(rows)} tensors ({zero} with zero reference gradient); max rel err {rows[0][0]:.3e} "
          f"({rows[0][1]}); median {rows[len(rows) // 2][0]:.3e}; tol {a.tol:.0e}")
    for err, name, nr in (bad or rows[:5])[:10]:
        print(f"  {'FAIL' if err > a.tol else 'worst'} {name}: rel err {err:.3e} (|g_ref| {nr:.3e})")
    sys.exit(0 if ok else 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grad")
    g.add_argument("--model", required=True)
    g.add_argument("--ids", required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--mtp-lambda", type=float, default=0.0)
    g.add_argument("--aux-alpha", type=float, default=0.0)
    c = sub.add_parser("compare")
    c.add_argument("ref")
    c.add_argument("ours")
    c.add_argument("--tol", type=float, default=1e-3)
    a = ap.parse_args(argv)
    torch.manual_seed(0)
    if a.cmd == "grad":
        cmd_grad(a)
    else:
        cmd_compare(a)


if __name__ == "__main__":
    main()
