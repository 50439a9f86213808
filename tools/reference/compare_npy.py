#!/usr/bin/env python3
"""Max abs difference and the smallest per-row cosine between two float32 .npy files of the same size, both read
as rows of their last dimension (e.g. `earshot encode`'s [windows·ctx, dims] against the seed's [windows, ctx, dims]).

    ~/.cache/earshot-ref/bin/python tools/reference/compare_npy.py earshot.npy seed.npy
"""
import sys

import numpy as np

a, b = (np.load(path).astype(np.float64) for path in sys.argv[1:3])
assert a.size == b.size and a.shape[-1] == b.shape[-1], (a.shape, b.shape)
a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
cosine = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
print(f"rows {a.shape[0]}  max abs {np.abs(a - b).max():.3e}  min cosine 1 - {1 - cosine.min():.1e}  "
      f"max |x| {np.abs(b).max():.3f}")
