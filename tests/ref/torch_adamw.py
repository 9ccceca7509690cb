"""torch_adamw.py - torch.optim.AdamW (float64) as the reference for
libfcn/solver.c's AdamW, in the scenario of numpy_solver.py's "update":

Usage: torch_adamw.py update adamw ITERS BASE BETA1 BETA2 EPS DECAY
                      ITER_SIZE LR_MULT DECAY_MULT NUMEL
ITERS updates with the rate of policy step (gamma 0.5, stepsize 2) times
LR_MULT as the group's lr and DECAY * DECAY_MULT as its weight_decay, on
w0[i] = sin(0.37 i + 0.2) with gradient sum_k cos(0.11 i + 0.7 t + 1.3 k)
/ ITER_SIZE; prints the final weights, then exp_avg, then exp_avg_sq.
"""
import math
import sys

import torch


def main(argv):
    iters = int(argv[3])
    base, b1, b2, eps, decay = map(float, argv[4:9])
    iter_size = int(argv[9])
    lr_mult, decay_mult = float(argv[10]), float(argv[11])
    n = int(argv[12])
    i = torch.arange(n, dtype=torch.float64)
    w = torch.sin(0.37 * i + 0.2).requires_grad_(True)
    opt = torch.optim.AdamW([w], lr=base, betas=(b1, b2), eps=eps,
                            weight_decay=decay * decay_mult)
    for t in range(iters):
        g = sum(torch.cos(0.11 * i + 0.7 * t + 1.3 * k) for k in range(iter_size))
        w.grad = g / iter_size
        opt.param_groups[0]["lr"] = base * 0.5 ** (t // 2) * lr_mult
        opt.step()
    st = opt.state[w]
    for a in (w.detach(), st["exp_avg"], st["exp_avg_sq"]):
        for x in a.tolist():
            print("%.12g" % x)


if __name__ == "__main__":
    main(sys.argv)
