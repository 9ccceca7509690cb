#!/usr/bin/python3
"""fcn_torch.py [ITERS [THREADS]] - PyTorch 1.13 FCN-AlexNet (the lab's net,
2 classes) at 1x3x256x256: best-of-ITERS images/s for inference (no_grad,
dropout off) and a training step (forward + backward, dropout on), and
peak RSS; key=value lines like bench/fcn_bench."""
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class FcnAlexNet(nn.Module):
    """The lab's FCN-AlexNet, 2 classes (bench/fcn-train.sh imports it)."""
    def __init__(self, channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 96, 11, 4, 100)
        self.conv2 = nn.Conv2d(96, 256, 5, 1, 2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, 1, 1)
        self.conv4 = nn.Conv2d(384, 384, 3, 1, 1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, 1, 1, groups=2)
        self.fc6 = nn.Conv2d(256, 4096, 6)
        self.fc7 = nn.Conv2d(4096, 4096, 1)
        self.score_fr = nn.Conv2d(4096, 2, 1)
        self.upscore = nn.ConvTranspose2d(2, 2, 63, 32, groups=2, bias=False)
        self.upscore.weight.requires_grad_(False)

    def forward(self, x):
        pool = lambda t: F.max_pool2d(t, 3, 2, ceil_mode=True)
        lrn = lambda t: F.local_response_norm(t, 5, 1e-4, 0.75, 1.0)
        x = x - 116.0
        x = lrn(pool(F.relu(self.conv1(x))))
        x = lrn(pool(F.relu(self.conv2(x))))
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        x = pool(F.relu(self.conv5(x)))
        x = F.dropout(F.relu(self.fc6(x)), 0.5, self.training)
        x = F.dropout(F.relu(self.fc7(x)), 0.5, self.training)
        x = self.upscore(self.score_fr(x))
        return x[:, :, 18:18 + 256, 18:18 + 256]


def main():
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    torch.manual_seed(1)
    net = FcnAlexNet()
    x = torch.rand(1, 3, 256, 256) * 255
    y = (torch.rand(1, 256, 256) > 0.5).long()
    net.eval()
    best = 1e30
    with torch.no_grad():
        for i in range(iters + 1):
            t = time.perf_counter()
            net(x)
            t = time.perf_counter() - t
            if i:
                best = min(best, t)
    print("forward_s=%.4f\nforward_img_s=%.3f" % (best, 1 / best))
    net.train()
    best = 1e30
    for i in range(iters + 1):
        t = time.perf_counter()
        net.zero_grad()
        F.cross_entropy(net(x), y, ignore_index=255).backward()
        t = time.perf_counter() - t
        if i:
            best = min(best, t)
    print("train_s=%.4f\ntrain_img_s=%.3f" % (best, 1 / best))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("peak_rss_mb=%.0f" % (rss / 1024))


if __name__ == "__main__":
    main()
