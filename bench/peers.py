#!/usr/bin/env python3
"""peers.py ENGINE NET [ITERS [THREADS [MODE [BATCH]]]] - one peer engine on
one of the benchmark's nets, BATCH images a pass (default 1), random
weights; best-of-ITERS seconds a pass after
one warm-up, key=value lines like bench/fcn_bench (forward_s, train_s,
peak_rss_mb).  ENGINE: torch (inference under no_grad in eval mode, and a
training step: forward + softmax loss + backward, no update), ort (ONNX
Runtime on build/bench/NET.onnx, inference only), openvino (the same file,
inference only) or export (writes build/bench/NET.onnx from the PyTorch
net; ort and openvino then run without importing torch, so their peak RSS
is their own).  The ONNX files have a fixed batch: NET.onnx is batch 1,
NET-bB.onnx batch B (export with the same BATCH argument).  NET: unet16,
unet32 (bench/unet.py), fcn-alexnet (bench/fcn_torch.py), fcn-8s (below).  MODE: both, infer, train.
Run inside the venv bench/peers.sh makes."""
import os
import resource
import sys
import tempfile
import time

import numpy as np

if sys.argv[1:2] in (["torch"], ["export"]):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
else:
    torch = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class Fcn8s(nn.Module if torch else object):
    """nets/fcn-8s.prototxt (VGG16 trunk, conv1_1 pad 100, 2 classes)."""
    def __init__(self):
        super().__init__()
        cfg = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
        self.convs, cin = nn.ModuleList(), 3
        for i, (ch, n) in enumerate(cfg):
            for k in range(n):
                self.convs.append(nn.Conv2d(cin, ch, 3, padding=100 if cin == 3 else 1))
                cin = ch
        self.cfg = cfg
        self.fc6 = nn.Conv2d(512, 4096, 7)
        self.fc7 = nn.Conv2d(4096, 4096, 1)
        self.score_fr = nn.Conv2d(4096, 2, 1)
        self.score_pool4 = nn.Conv2d(512, 2, 1)
        self.score_pool3 = nn.Conv2d(256, 2, 1)
        self.up2 = nn.ConvTranspose2d(2, 2, 4, 2, groups=2, bias=False)
        self.up4 = nn.ConvTranspose2d(2, 2, 4, 2, groups=2, bias=False)
        self.up8 = nn.ConvTranspose2d(2, 2, 16, 8, groups=2, bias=False)
        for m in (self.up2, self.up4, self.up8):
            m.weight.requires_grad_(False)

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        it, pools = iter(self.convs), []
        for ch, n in self.cfg:
            for k in range(n):
                x = F.relu(next(it)(x))
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            pools.append(x)
        x = F.dropout(F.relu(self.fc6(x)), 0.5, self.training)
        x = F.dropout(F.relu(self.fc7(x)), 0.5, self.training)
        x = self.up2(self.score_fr(x))
        p4 = self.score_pool4(pools[3])
        x = self.up4(x + p4[:, :, 5:5 + x.shape[2], 5:5 + x.shape[3]])
        p3 = self.score_pool3(pools[2])
        x = self.up8(x + p3[:, :, 9:9 + x.shape[2], 9:9 + x.shape[3]])
        return x[:, :, 31:31 + h, 31:31 + w]


def make(name):
    if name.startswith("unet"):
        import unet
        return unet.torch_unet(int(name[4:])), 1
    if name == "fcn-alexnet":
        import fcn_torch
        return fcn_torch.FcnAlexNet(), 3
    if name == "fcn-8s":
        return Fcn8s(), 3
    sys.exit("peers.py: unknown net '%s'" % name)


def best_of(iters, fn):
    best = 1e30
    for i in range(iters + 1):
        t = time.perf_counter()
        fn()
        t = time.perf_counter() - t
        if i or not iters:
            best = min(best, t)
    return best


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    engine, name = sys.argv[1], sys.argv[2]
    iters = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    mode = sys.argv[5] if len(sys.argv) > 5 else "both"
    batch = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                        "bench", name + ("-b%d" % batch if batch != 1 else "") + ".onnx")
    c = 1 if name.startswith("unet") else 3
    xn = (np.random.default_rng(1).random((batch, c, 256, 256), dtype=np.float32) * 255)
    if engine in ("torch", "export"):
        torch.set_num_threads(threads)
        torch.manual_seed(1)
        net, c = make(name)
        x = torch.from_numpy(xn)
        net.eval()
    if engine == "export":
        torch.onnx.export(net, x, path + ".tmp", input_names=["data"],
                          output_names=["score"], opset_version=17, dynamo=False)
        os.replace(path + ".tmp", path)
        return
    if engine == "torch":
        if mode != "train":
            with torch.no_grad():
                print("forward_s=%.4f" % best_of(iters, lambda: net(x)))
        if mode != "infer":
            net.train()
            y = (torch.rand(batch, 256, 256) > 0.5).long()

            def step():
                net.zero_grad()
                F.cross_entropy(net(x), y, ignore_index=255).backward()
            print("train_s=%.4f" % best_of(iters, step))
    elif engine == "ort":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        print("forward_s=%.4f" % best_of(iters, lambda: s.run(None, {"data": xn})))
    elif engine == "openvino":
        import openvino as ov
        core = ov.Core()
        m = core.compile_model(path, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                             "PERFORMANCE_HINT": "LATENCY"})
        r = m.create_infer_request()
        print("forward_s=%.4f" % best_of(iters, lambda: r.infer({0: xn})))
    else:
        sys.exit("peers.py: unknown engine '%s'" % engine)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("peak_rss_mb=%.0f" % (rss / 1024))


if __name__ == "__main__":
    main()
