#!/usr/bin/env -S /usr/bin/python3
"""Training throughput of the same model in PyTorch, for the side-by-side with `dsv3 train`.

  train_torch_throughput.py --model DIR --data DIR [--batch 8] [--seq-len 256] [--steps 3]
                            [--threads 2] [--mtp-lambda 0.3] [--aux-alpha 0.0001]

The model is tests/reference/deepseek_reference.py (float32, eager autograd) loaded from a
Hugging Face folder (e.g. a dsv3 training checkpoint of configs/default_model.json); each step
is what one `dsv3 train` step does: batch × (seq_len + 1) tokens from the train split, loss =
CE + λ·MTP + α·balance (grad_reference.training_loss, one sequence at a time since the reference
is single-sequence), backward, clip_grad_norm_(1.0), AdamW. Prints one JSON line per step and a
summary with the median tokens/s (tokens = batch · seq_len predicted positions, as dsv3 counts).
The first step is a warm-up and is excluded from the median.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
from deepseek_reference import DeepSeekReference  # noqa: E402
from grad_reference import training_loss  # noqa: E402
from train_reference import read_split  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mtp-lambda", type=float, default=0.3)
    ap.add_argument("--aux-alpha", type=float, default=0.0001)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = DeepSeekReference(a.model, torch.float32)
    params = [w for n, w in model.w.items() if not n.endswith("e_score_correction_bias")]
    for w in params:
        w.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    tokens = read_split(a.data, "train")
    B, S = a.batch, a.seq_len
    pos, rates = 0, []
    for step in range(a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        total = 0.0
        for r in range(B):
            ids = [int(tokens[(pos + r * S + t) % len(tokens)]) for t in range(S + 1)]
            loss, _ = training_loss(model, ids, a.mtp_lambda, a.aux_alpha)
            (loss / B).backward()
            total += float(loss) / B
        pos += B * S
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        rate = B * S / dt
        if step > 0 or a.steps == 1:
            rates.append(rate)
        print(json.dumps({"step": step + 1, "loss": total, "seconds": dt, "tokens_per_s": rate}), flush=True)
    print(json.dumps({"engine": "pytorch " + torch.__version__, "threads": a.threads, "batch": B, "seq_len": S,
                      "median_tokens_per_s": statistics.median(rates)}))


if __name__ == "__main__":
    main()
