#!/usr/bin/env -S /usr/bin/python3
"""Independent torch reference of `dsv3 train` optimizer steps (float64 autograd + torch.optim.AdamW).

  train_reference.py run --config TRAIN.json [--steps N]   prints one JSON line per step
  train_reference.py compare REF.jsonl OURS_metrics.jsonl [--tol 1e-5]

The config is the one `dsv3 train` reads (src/train/train_config.h) and must use "init_from" (the
random Hugging Face checkpoint both sides start from) and precision fp32. Each step, as
src/train/trainer.h describes it:
  * grad_accum_steps micro-batches of batch_size rows; row r of a micro-batch at data position p
    is train tokens p + r·seq_len .. p + (r+1)·seq_len (seq_len + 1 tokens, wrapping around the
    split); the next micro-batch starts at p + batch_size·seq_len;
  * loss of a micro-batch = mean over its rows of grad_reference.training_loss (CE + λ·MTP +
    α·balance; equal row lengths make this the mean over all positions); backward of
    loss / grad_accum_steps;
  * shared MTP embeddings: the MTP layers' embed_tokens / shared_head.head are dropped so that
    deepseek_reference falls back to the main tensors (one parameter, gradients add up);
  * torch.nn.utils.clip_grad_norm_ over every trained tensor, then torch.optim.AdamW
    (foreach=False) with weight decay except on names ending in "bias" or "norm.weight"/"norm",
    lr = linear warmup then cosine to min_lr_ratio·lr (src/train/lr_schedule.h);
  * e_score_correction_bias is not an optimizer parameter: after the step it moves by
    γ·sign(mean_load − load_i) with loads counted over the step's micro-batches (report 2.1.2).
The printed losses are the mean over micro-batches, as metrics.jsonl reports them.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deepseek_reference import DeepSeekReference  # noqa: E402
from grad_reference import training_loss  # noqa: E402


def lr_at(c, step):
    lr, warm, total, ratio = c["lr"], c.get("warmup_steps", 0), c["total_steps"], c.get("min_lr_ratio", 0.1)
    if step < warm:
        return lr * (step + 1) / warm
    lo = ratio * lr
    if step >= total:
        return lo
    return lo + (lr - lo) * 0.5 * (1.0 + math.cos(math.pi * (step - warm) / (total - warm)))


def read_split(data_dir, split):
    with open(os.path.join(data_dir, "manifest.json")) as f:
        m = json.load(f)
    parts = [np.fromfile(os.path.join(data_dir, s["file"]), dtype="<u4") for s in m["splits"][split]["shards"]]
    return np.concatenate(parts).astype(np.int64)


def decays(name):
    return not (name.endswith("bias") or name.endswith("norm.weight") or name.endswith("norm"))


def cmd_run(a):
    with open(a.config) as f:
        c = json.load(f)
    if not c.get("init_from") or c.get("precision", "fp32") != "fp32":
        raise SystemExit("error: the reference needs a config with init_from and precision fp32")
    torch.manual_seed(0)
    model = DeepSeekReference(c["init_from"], torch.float64)
    L, Dm = model.n_layers, model.n_mtp
    if c.get("share_mtp_embeddings", True):
        for k in range(Dm):
            for n in ("embed_tokens.weight", "shared_head.head.weight"):
                model.w.pop(f"model.layers.{L + k}.{n}", None)
    E = model.cfg.get("n_routed_experts") or 0
    trained = {n: w for n, w in model.w.items() if not n.endswith("e_score_correction_bias")}
    for w in trained.values():
        w.requires_grad_(True)
    groups = [{"params": [w for n, w in trained.items() if decays(n)], "weight_decay": c.get("weight_decay", 0.1)},
              {"params": [w for n, w in trained.items() if not decays(n)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=c["lr"], betas=(c.get("beta1", 0.9), c.get("beta2", 0.95)),
                            eps=c.get("eps", 1e-8), foreach=False)

    loads = {}
    orig_gate = model.gate

    def gate(p, x):  # counts the tokens routed to each expert per layer prefix
        idx, w = orig_gate(p, x)
        cnt = loads.setdefault(p, torch.zeros(E, dtype=torch.long))
        cnt += torch.bincount(idx.reshape(-1), minlength=E)
        return idx, w
    model.gate = gate

    tokens = read_split(c["data"], "train")
    B, S, A = c["batch_size"], c["seq_len"], c.get("grad_accum_steps", 1)
    lam, alpha, gamma = c.get("mtp_lambda", 0.3), c.get("aux_alpha", 0.0001), c.get("bias_update_speed", 0.001)
    pos = 0
    steps = a.steps or c["total_steps"]
    for step in range(steps):
        opt.zero_grad(set_to_none=False)
        loads.clear()
        sums = {"loss": 0.0, "ce": 0.0, "mtp": 0.0, "balance": 0.0}
        for _ in range(A):
            micro = 0.0
            parts_sum = {"ce": 0.0, "mtp": 0.0, "balance": 0.0}
            for r in range(B):
                ids = [int(tokens[(pos + r * S + t) % len(tokens)]) for t in range(S + 1)]
                total, parts = training_loss(model, ids, lam, alpha)
                micro = micro + total / B
                for k in parts_sum:
                    parts_sum[k] += parts[k] / B
            pos += B * S
            (micro / A).backward()
            sums["loss"] += float(micro) / A
            for k in parts_sum:
                sums[k] += parts_sum[k] / A
        norm = torch.nn.utils.clip_grad_norm_(list(trained.values()), c.get("grad_clip", 1.0) or float("inf"))
        lr = lr_at(c, step)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        with torch.no_grad():
            for p, cnt in loads.items():
                b = model.w[p + ".gate.e_score_correction_bias"]
                total = int(cnt.sum())
                sign = torch.sign(torch.tensor([float(total - E * int(x)) for x in cnt], dtype=b.dtype))
                b += float(np.float32(gamma)) * sign
                b.copy_(b.to(torch.float32).to(b.dtype))  # the trainer keeps the bias in f32
        print(json.dumps({"step": step + 1, **sums, "lr": lr, "grad_norm": float(norm)}), flush=True)


def cmd_compare(a):
    ref = [json.loads(x) for x in open(a.ref) if x.strip()]
    ours = {j["step"]: j for j in map(json.loads, (x for x in open(a.ours) if x.strip())) if j.get("type") == "train"}
    worst, ok = 0.0, True
    for r in ref:
        o = ours.get(r["step"])
        if o is None:
            print(f"FAIL step {r['step']}: missing in {a.ours}")
            ok = False
            continue
        for k in ("loss", "ce", "mtp", "lr", "grad_norm"):
            err = abs(o[k] - r[k]) / max(abs(r[k]), 1e-12)
            worst = max(worst, err if k != "grad_norm" else 0.0)
            tol = a.tol if k != "grad_norm" else 1e-3
            if not err <= tol:
                ok = False
                print(f"FAIL step {r['step']} {k}: ours {o[k]:.10g} reference {r[k]:.10g} (rel {err:.2e} > {tol})")
    print(f"{len(ref)} steps compared, max relative loss difference {worst:.3e}")
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--config", required=True)
    r.add_argument("--steps", type=int, default=0)
    r.set_defaults(fn=cmd_run)
    c = sub.add_parser("compare")
    c.add_argument("ref")
    c.add_argument("ours")
    c.add_argument("--tol", type=float, default=1e-5)
    c.set_defaults(fn=cmd_compare)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
