#!/usr/bin/python3
"""torch_fcn_alexnet.py OUT - the FCN-AlexNet reference for test_fcn_torch.

Builds the lab's FCN-AlexNet (nets/fcn-alexnet.prototxt, 2 classes) in
PyTorch, float64, with seeded random weights (gaussian, std 1/sqrt(fan_in),
so that every gradient is well away from zero), a 1x3x256x256 input of raw
values in 0..255 and a disc label with a band of ignored (255) pixels, runs
forward and backward (dropout off: phase TEST semantics), and writes two
records of our tensor stream to OUT:
  "inputs":  data, label, and "param:<layer>:<index>" for every parameter;
  "outputs": score (after the crop), loss, "grad:<layer>:<index>".
"""
import sys

import msgpack
import numpy as np
import torch
import torch.nn.functional as F


def tensor(a):
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"dtype": "f32", "shape": list(a.shape), "data": a.tobytes()}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_fcn_alexnet.py OUT")
    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(20161)
    dt = torch.float64
    # (layer, out, in/group, k, group, bias)
    spec = [("conv1", 96, 3, 11, 1, True), ("conv2", 256, 48, 5, 2, True),
            ("conv3", 384, 256, 3, 1, True), ("conv4", 384, 192, 3, 2, True),
            ("conv5", 256, 192, 3, 2, True), ("fc6", 4096, 256, 6, 1, True),
            ("fc7", 4096, 4096, 1, 1, True), ("score_fr", 2, 4096, 1, 1, True)]
    params = {}
    for name, m, cin, k, grp, bias in spec:
        std = 1.0 / np.sqrt(cin * k * k)
        params[(name, 0)] = torch.randn(m, cin, k, k, generator=g, dtype=dt) * std
        params[(name, 1)] = torch.randn(m, generator=g, dtype=dt) * 0.1
    params[("upscore", 0)] = torch.rand(2, 1, 63, 63, generator=g, dtype=dt) * 0.1
    for p in params.values():
        p.requires_grad_(True)

    data = torch.rand(1, 3, 256, 256, generator=g, dtype=dt) * 255
    yy, xx = np.mgrid[0:256, 0:256]
    r = np.hypot(yy - 120, xx - 140)
    label = (r < 50).astype(np.float64)
    label[(r >= 48) & (r < 52)] = 255
    label = torch.tensor(label[None], dtype=torch.long)

    def conv(x, name, stride=1, pad=0, groups=1):
        return F.conv2d(x, params[(name, 0)], params[(name, 1)], stride=stride,
                        padding=pad, groups=groups)

    def pool(x):
        return F.max_pool2d(x, 3, 2, ceil_mode=True)

    def lrn(x):
        return F.local_response_norm(x, 5, alpha=1e-4, beta=0.75, k=1.0)

    x = data - 116.0
    x = lrn(pool(F.relu(conv(x, "conv1", 4, 100))))
    x = lrn(pool(F.relu(conv(x, "conv2", 1, 2, 2))))
    x = F.relu(conv(x, "conv3", 1, 1))
    x = F.relu(conv(x, "conv4", 1, 1, 2))
    x = pool(F.relu(conv(x, "conv5", 1, 1, 2)))
    x = F.relu(conv(x, "fc6"))
    x = F.relu(conv(x, "fc7"))
    x = conv(x, "score_fr")
    x = F.conv_transpose2d(x, params[("upscore", 0)], stride=32, groups=2)
    score = x[:, :, 18:18 + 256, 18:18 + 256]
    loss = F.cross_entropy(score, label, ignore_index=255)
    loss.backward()

    rec1 = {"id": "inputs", "data": tensor(data.numpy()),
            "label": tensor(label.numpy()[:, None].astype(np.float32))}
    rec2 = {"id": "outputs", "score": tensor(score.detach().numpy()),
            "loss": tensor(np.array([loss.item()]))}
    for (name, i), p in params.items():
        rec1["param:%s:%d" % (name, i)] = tensor(p.detach().numpy())
        rec2["grad:%s:%d" % (name, i)] = tensor(p.grad.numpy())
    with open(sys.argv[1], "wb") as f:
        f.write(msgpack.packb(rec1, use_bin_type=True))
        f.write(msgpack.packb(rec2, use_bin_type=True))


if __name__ == "__main__":
    main()
