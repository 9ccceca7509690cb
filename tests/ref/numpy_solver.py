"""numpy_solver.py - float64 numpy reference for libfcn/solver.c (Caffe's
learning-rate policies, SGD with momentum, Adam, weight decay, iter_size).

Usage (prints one number per line, %.9g):
  numpy_solver.py lr POLICY BASE GAMMA POWER STEPSIZE MAX_ITER STEPVALUES N [WARMUP]
      the rate at iterations 0..N-1 (STEPVALUES comma-separated or '-');
      with WARMUP W: base * (it + 1) / W for it < W, then the policy at
      it - W with poly's horizon MAX_ITER - W
  numpy_solver.py update KIND ITERS BASE MOMENTUM MOMENTUM2 DELTA DECAY
                         ITER_SIZE LR_MULT DECAY_MULT NUMEL
      runs ITERS updates (policy step, gamma 0.5, stepsize 2) on
      w0[i] = sin(0.37 i + 0.2) with the gradient of pass k of iteration t
      g[i] = cos(0.11 i + 0.7 t + 1.3 k); prints the final weights, then
      the history (SGD: v; Adam: m then v).
The formulas are written out from Caffe's sources (sgd_solver.cpp,
adam_solver.cpp), independently of the C code.
"""
import math
import sys

import numpy as np


def rate(policy, base, gamma, power, stepsize, max_iter, stepvalues, it):
    if policy == "fixed":
        return base
    if policy == "step":
        return base * gamma ** (it // stepsize)
    if policy == "exp":
        return base * gamma ** it
    if policy == "inv":
        return base * (1 + gamma * it) ** (-power)
    if policy == "multistep":
        return base * gamma ** sum(1 for s in stepvalues if it >= s)
    if policy == "poly":
        return base * (1 - it / max_iter) ** power
    if policy == "sigmoid":
        return base * (1 / (1 + math.exp(-gamma * (it - stepsize))))
    raise SystemExit("unknown policy " + policy)


def main(argv):
    if argv[1] == "lr":
        policy, base, gamma, power = argv[2], *map(float, argv[3:6])
        stepsize, max_iter = int(argv[6]), int(argv[7])
        sv = [] if argv[8] == "-" else [int(x) for x in argv[8].split(",")]
        warm = int(argv[10]) if len(argv) > 10 else 0
        for it in range(int(argv[9])):
            if it < warm:
                print("%.9g" % (base * (it + 1) / warm))
            else:
                print("%.9g" % rate(policy, base, gamma, power, stepsize,
                                    max_iter - warm, sv, it - warm))
        return
    kind = argv[2]
    iters = int(argv[3])
    base, mom, mom2, delta, decay = map(float, argv[4:9])
    iter_size = int(argv[9])
    lr_mult, decay_mult = float(argv[10]), float(argv[11])
    n = int(argv[12])
    i = np.arange(n, dtype=np.float64)
    w = np.sin(0.37 * i + 0.2)
    h1 = np.zeros(n)
    h2 = np.zeros(n)
    for t in range(iters):
        g = sum(np.cos(0.11 * i + 0.7 * t + 1.3 * k) for k in range(iter_size))
        g = g / iter_size + decay * decay_mult * w
        lr = rate("step", base, 0.5, 0, 2, 0, [], t) * lr_mult
        if kind == "sgd":
            h1 = mom * h1 + lr * g
            w = w - h1
        else:
            h1 = mom * h1 + (1 - mom) * g
            h2 = mom2 * h2 + (1 - mom2) * g * g
            corr = math.sqrt(1 - mom2 ** (t + 1)) / (1 - mom ** (t + 1))
            w = w - lr * corr * h1 / (np.sqrt(h2) + delta)
    for a in [w, h1] + ([h2] if kind == "adam" else []):
        for x in a:
            print("%.9g" % x)


if __name__ == "__main__":
    main(sys.argv)
