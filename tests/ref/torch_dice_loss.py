"""torch_dice_loss.py - PyTorch (float64, autograd) reference for the
softmax+dice loss of libfcn/loss_layers.c: weighted cross-entropy (mean over
the valid pixels weighted by w[y], ignore label 255) plus 1 - soft Dice of
the foreground (p_fg = 1 - p_0, y_fg = [y >= 1], ignored pixels left out,
smoothing 1), per image and averaged, or over the whole batch.

Usage: torch_dice_loss.py FILE image|batch W0,W1,...
FILE: "N K H W" then N*K*H*W scores, then N*H*W labels (whitespace-separated).
Prints the loss, then dL/dscores in (N, K, H, W) order, one per line.
Written from the formulas (as nnU-Net's DC_and_CE_loss for one foreground
group), independently of the C code.
"""
import sys

import torch
import torch.nn.functional as F


def main(path, over, weights):
    v = open(path).read().split()
    n, k, h, w = map(int, v[:4])
    m = n * k * h * w
    x = torch.tensor([float(t) for t in v[4:4 + m]], dtype=torch.float64)
    x = x.reshape(n, k, h, w).requires_grad_(True)
    y = torch.tensor([int(float(t)) for t in v[4 + m:4 + m + n * h * w]])
    y = y.reshape(n, h, w)
    wt = torch.tensor([float(t) for t in weights.split(",")], dtype=torch.float64)
    ce = F.cross_entropy(x, y, weight=wt, ignore_index=255, reduction="mean")
    valid = (y != 255).double()
    p = torch.softmax(x, 1)
    fg = (1 - p[:, 0]) * valid
    yf = ((y >= 1) & (y != 255)).double()
    if over == "batch":
        dice = (2 * (fg * yf).sum() + 1) / (fg.sum() + yf.sum() + 1)
    else:
        dice = ((2 * (fg * yf).sum((1, 2)) + 1) / (fg.sum((1, 2)) + yf.sum((1, 2)) + 1)).mean()
    loss = ce + (1 - dice)
    loss.backward()
    print("%.12g" % loss.item())
    for g in x.grad.reshape(-1).tolist():
        print("%.12g" % g)


if __name__ == "__main__":
    main(*sys.argv[1:4])
