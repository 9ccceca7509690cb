#!/usr/bin/python3
"""unet_recipe_torch.py TRAIN.ts VAL.ts [EPOCHS [SEED [THREADS]]] - the peer
recipe of pipelines/lab.mk's quality target, in PyTorch: the same U-Net as
nets/unet.prototxt (4 levels of two 3x3 conv + BatchNorm + ReLU, 2x2 max
pooling, 2x2 stride-2 transposed convolutions, concatenated skips, a 1x1
scorer, base 16 channels), each image z-scored, random flips and 90-degree
rotations, cross-entropy + soft Dice (batch), Adam lr 1e-3, batch 8.

Prints a TSV line per epoch: epoch, seconds so far, train loss, mean
per-image validation Dice (argmax >= 1 against label >= 1; both empty = 1).
Bench only: reads streams with tests/ref/stream.py; never a product
dependency."""
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "ref"))
from stream import read_stream  # noqa: E402


def block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, cin=1, base=16, classes=2, levels=4):
        super().__init__()
        ch = [base << i for i in range(levels + 1)]
        self.down = nn.ModuleList([block(cin if i == 0 else ch[i - 1], ch[i])
                                   for i in range(levels)])
        self.bottom = block(ch[levels - 1], ch[levels])
        self.up = nn.ModuleList([nn.ConvTranspose2d(ch[i + 1], ch[i], 2, 2)
                                 for i in reversed(range(levels))])
        self.dec = nn.ModuleList([block(2 * ch[i], ch[i])
                                  for i in reversed(range(levels))])
        self.score = nn.Conv2d(base, classes, 1)

    def forward(self, x):
        skips = []
        for d in self.down:
            x = d(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, dec, s in zip(self.up, self.dec, reversed(skips)):
            x = dec(torch.cat([s, up(x)], 1))
        return self.score(x)


def load(path):
    recs = read_stream(path)
    x = np.stack([r["image"].reshape(r["image"].shape[-2:]).astype(np.float32)
                  for r in recs])
    y = np.stack([r["label"].reshape(r["label"].shape[-2:]).astype(np.int64)
                  for r in recs])
    m = x.mean(axis=(1, 2), keepdims=True)
    s = x.std(axis=(1, 2), keepdims=True) + 1e-6
    return torch.from_numpy((x - m) / s)[:, None], torch.from_numpy(y)


def augment(x, y, g):
    x, y = x.clone(), y.clone()
    for i in range(x.shape[0]):
        k = int(torch.randint(4, (1,), generator=g))
        xi, yi = torch.rot90(x[i], k, (1, 2)), torch.rot90(y[i], k, (0, 1))
        if torch.rand(1, generator=g) < 0.5:
            xi, yi = xi.flip(2), yi.flip(1)
        x[i], y[i] = xi, yi
    return x, y


def loss_fn(logits, y):
    ce = F.cross_entropy(logits, y)
    p = F.softmax(logits, 1)[:, 1]
    t = (y >= 1).float()
    dice = (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
    return ce + 1 - dice


def val_dice(net, x, y):
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(x.shape[0]):
            pred = net(x[i:i + 1]).argmax(1)[0] >= 1
            t = y[i] >= 1
            s = int(pred.sum() + t.sum())
            out.append(1.0 if s == 0 else 2.0 * int((pred & t).sum()) / s)
    net.train()
    return float(np.mean(out))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 2)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    xt, yt = load(sys.argv[1])
    xv, yv = load(sys.argv[2])
    net = UNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    t0 = time.time()
    print("epoch\tseconds\ttrain_loss\tval_dice", flush=True)
    for e in range(1, epochs + 1):
        perm = torch.randperm(xt.shape[0], generator=g)
        tot, n = 0.0, 0
        for b in range(0, len(perm), 8):
            idx = perm[b:b + 8]
            x, y = augment(xt[idx], yt[idx], g)
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            tot += float(loss) * len(idx)
            n += len(idx)
        print("%d\t%.1f\t%.4f\t%.4f" % (e, time.time() - t0, tot / n,
                                        val_dice(net, xv, yv)), flush=True)


if __name__ == "__main__":
    main()
