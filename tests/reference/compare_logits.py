#!/usr/bin/env -S /usr/bin/python3
"""Compares two [T, V] logits .npy files with the acceptance criterion.

  compare_logits.py REF.npy OURS.npy [--tol 2e-3] [--name LABEL]

Passes iff shapes match, everything is finite, max|ours - ref| <= tol * max|ref|, and
argmax(ours[t]) == argmax(ref[t]) for every row t. Prints one line of numbers (plus the first
mismatching rows on failure); exit status 0 = pass, 1 = fail or unreadable input.
"""
import argparse
import sys

import numpy as np


def compare(ref, ours, tol):
    """Returns (passed, message)."""
    if ref.shape != ours.shape:
        return False, f"shape mismatch: ref {ref.shape} vs ours {ours.shape}"
    if ref.ndim != 2 or ref.shape[0] == 0:
        return False, f"expected a non-empty [T, V] array, got shape {ref.shape}"
    ref64, ours64 = ref.astype(np.float64), ours.astype(np.float64)
    if not np.isfinite(ours64).all():
        return False, f"ours has {int((~np.isfinite(ours64)).sum())} non-finite values"
    if not np.isfinite(ref64).all():
        return False, "ref has non-finite values"
    diff = np.abs(ours64 - ref64)
    max_diff, max_ref = float(diff.max()), float(np.abs(ref64).max())
    bound = tol * max_ref
    am_ref, am_ours = ref64.argmax(-1), ours64.argmax(-1)
    bad_rows = np.nonzero(am_ref != am_ours)[0]
    worst = np.unravel_index(int(diff.argmax()), diff.shape)
    msg = (f"T={ref.shape[0]} V={ref.shape[1]} max|d|={max_diff:.3e} at {tuple(int(i) for i in worst)} "
           f"max|ref|={max_ref:.4f} ratio={max_diff / max(max_ref, 1e-30):.3e} (tol {tol:.1e}) "
           f"argmax mismatches={len(bad_rows)}")
    ok = max_diff <= bound and len(bad_rows) == 0
    if len(bad_rows):
        details = []
        for t in bad_rows[:5]:
            r, o = int(am_ref[t]), int(am_ours[t])
            details.append(f"row {t}: ref argmax {r} ({ref64[t, r]:.5f}, ours {ours64[t, r]:.5f}) "
                           f"ours argmax {o} ({ours64[t, o]:.5f}, ref {ref64[t, o]:.5f})")
        msg += "\n  " + "\n  ".join(details)
    return ok, msg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ref")
    ap.add_argument("ours")
    ap.add_argument("--tol", type=float, default=2e-3)
    ap.add_argument("--name", default="")
    a = ap.parse_args()
    try:
        ref, ours = np.load(a.ref), np.load(a.ours)
    except (OSError, ValueError) as e:
        print(f"FAIL {a.name}: cannot read input: {e}")
        sys.exit(1)
    ok, msg = compare(ref, ours, a.tol)
    print(f"{'PASS' if ok else 'FAIL'} {a.name + ': ' if a.name else ''}{msg}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
