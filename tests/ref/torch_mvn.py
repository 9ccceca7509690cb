#!/usr/bin/python3
"""torch_mvn.py OUT - the MVN reference for test_fcn_mvn_torch.

For each configuration (normalize_variance, across_channels, eps) writes one
record of our tensor stream to OUT, id "mvn:V:A:EPS", with a seeded input x
(2x3x5x7, float64 computed, stored f32; one channel shifted and scaled so that
means and deviations are far from 0 and 1), a seeded top gradient dy, and:
  y        Caffe's forward: (x - mean) / (sqrt(E[(x - mean)^2]) + eps)
           (or x - mean), in PyTorch, float64;
  dx_auto  PyTorch autograd's gradient of sum(y * dy) with respect to x;
  dx       Caffe's backward formula (mvn_layer.cpp):
           (dy - mean(dy) - y mean(y dy)) / (sqrt(var) + eps), or dy - mean(dy)
           (equal to dx_auto for eps = 0, or without normalize_variance).
"""
import sys

import msgpack
import numpy as np
import torch


def tensor(a):
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"dtype": "f32", "shape": list(a.shape), "data": a.tobytes()}


CONFIGS = [(1, 0, 1e-9), (1, 1, 1e-9), (0, 0, 1e-9), (0, 1, 1e-9),
           (1, 0, 0.5), (1, 1, 0.5)]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_mvn.py OUT")
    g = torch.Generator().manual_seed(7)
    with open(sys.argv[1], "wb") as f:
        for var, across, eps in CONFIGS:
            x = torch.randn(2, 3, 5, 7, generator=g, dtype=torch.float64)
            x[:, 1] = x[:, 1] * 30 + 100
            # the stored (f32) values are what the engine sees
            x = x.float().double().requires_grad_(True)
            dy = torch.randn(2, 3, 5, 7, generator=g, dtype=torch.float64)
            dims = (1, 2, 3) if across else (2, 3)
            mean = x.mean(dim=dims, keepdim=True)
            y = x - mean
            if var:
                sd = (y * y).mean(dim=dims, keepdim=True).sqrt() + eps
                y = y / sd
            (y * dy).sum().backward()
            yd = y.detach()
            dx = dy - dy.mean(dim=dims, keepdim=True)
            if var:
                dx = (dx - yd * (yd * dy).mean(dim=dims, keepdim=True)) / sd.detach()
            rec = {"id": "mvn:%d:%d:%g" % (var, across, eps),
                   "x": tensor(x.detach().numpy()), "dy": tensor(dy.numpy()),
                   "y": tensor(yd.numpy()), "dx": tensor(dx.numpy()),
                   "dx_auto": tensor(x.grad.numpy())}
            f.write(msgpack.packb(rec, use_bin_type=True))


if __name__ == "__main__":
    main()
