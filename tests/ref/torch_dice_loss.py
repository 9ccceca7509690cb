"""torch_dice_loss.py - PyTorch (float64, autograd) reference for the
softmax+dice loss of libfcn/loss_layers.c: weighted cross-entropy (mean over
the valid pixels weighted by w[y], ignore label 255) plus 1 - soft Dice of
the foreground (p_fg = 1 - p_0, y_fg = [y >= 1], ignored pixels left out,
smoothing 1), per image and averaged, or over the whole batch; with "each",
the mean over the classes c >= 1 of each one's soft Dice (p_c, [y = c]).

Usage: torch_dice_loss.py FILE image|batch W0,W1,... [union|each]
FILE: "N K H W" then N*K*H*W scores, then N*H*W labels (whitespace-separated).
Prints the loss, then dL/dscores in (N, K, H, W) order, one per line.
Written from the formulas (as nnU-Net's DC_and_CE_loss for one foreground
group), independently of the C code.
"""
import sys

import torch
import torch.nn.functional as F


def soft_dice(p, t, over):
    if over == "batch":
        return (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
    return ((2 * (p * t).sum((1, 2)) + 1) / (p.sum((1, 2)) + t.sum((1, 2)) + 1)).mean()


def main(path, over, weights, groups="union"):
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
    if groups == "each":
        dice = sum(soft_dice(p[:, c] * valid, (y == c).double(), over)
                   for c in range(1, k)) / (k - 1)
    else:
        fg = (1 - p[:, 0]) * valid
        yf = ((y >= 1) & (y != 255)).double()
        dice = soft_dice(fg, yf, over)
    loss = ce + (1 - dice)
    loss.backward()
    print("%.12g" % loss.item())
    for g in x.grad.reshape(-1).tolist():
        print("%.12g" % g)


if __name__ == "__main__":
    main(*sys.argv[1:5])
