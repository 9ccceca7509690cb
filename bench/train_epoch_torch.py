#!/usr/bin/env python3
"""train_epoch_torch.py STREAM BATCH THREADS [SEED] - one training epoch of the
lab recipe's U-Net in PyTorch, the same work as bench/train-epoch.sh's
fcn-train run: nets/unet.prototxt's net (bench/unet_recipe_torch.py's UNet:
base 16, 4 levels, BatchNorm), each image z-scored (the net's MVN layer),
cross-entropy + (1 - soft Dice of the foreground per image, averaged; smoothing
1), AdamW lr 3e-3, weight decay 1e-4, BATCH images an update, the records in a
random order, one pass.  Prints key=value lines: read_s (stream to tensors),
train_s (the epoch's loop), images_per_s, peak_rss_mb.  The whole process'
wall time (start-up, imports) is measured by the caller.  Bench only: runs in
bench/peers.sh's venv (PyTorch 2.x from PyPI)."""
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "tests", "ref"))
from stream import read_stream  # noqa: E402
from unet_recipe_torch import UNet  # noqa: E402


def loss_fn(logits, y):
    ce = F.cross_entropy(logits, y)
    fg = 1 - F.softmax(logits, 1)[:, 0]
    t = (y >= 1).float()
    dice = (2 * (fg * t).sum((1, 2)) + 1) / (fg.sum((1, 2)) + t.sum((1, 2)) + 1)
    return ce + 1 - dice.mean()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    path, batch, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    t = time.perf_counter()
    recs = read_stream(path)
    x = np.stack([r["image"].reshape(r["image"].shape[-2:]).astype(np.float32)
                  for r in recs])
    y = np.stack([r["label"].reshape(r["label"].shape[-2:]).astype(np.int64)
                  for r in recs])
    x = (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True) + 1e-9)
    x, y = torch.from_numpy(x)[:, None], torch.from_numpy(y)
    read_s = time.perf_counter() - t
    net = UNet()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    net.train()
    t = time.perf_counter()
    perm = torch.randperm(x.shape[0])
    for b in range(0, len(perm), batch):
        idx = perm[b:b + batch]
        opt.zero_grad()
        loss_fn(net(x[idx]), y[idx]).backward()
        opt.step()
    train_s = time.perf_counter() - t
    print("read_s=%.3f" % read_s)
    print("train_s=%.3f" % train_s)
    print("images_per_s=%.2f" % (x.shape[0] / train_s))
    print("peak_rss_mb=%.0f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


if __name__ == "__main__":
    main()
