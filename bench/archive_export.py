#!/usr/bin/python3
"""archive_export.py MODEL BASE OUT.onnx - our trained U-Net model file
(fcn-train -o, a msgpack map: see libfcn/model.h) loaded into its PyTorch
twin (bench/unet.py torch_unet(BASE)) and exported to ONNX, with the
model's input preprocessing (x * scale + shift) folded in front, so that
the exported net takes the raw pixel values as fcn-predict does.  Prints
the scale and shift.  Needs msgpack and PyTorch (Debian's: /usr/bin/python3).
Caffe's BatchNorm stores mean and variance times a factor (blob 2):
PyTorch's running statistics are them divided by it; Scale's two blobs
are BatchNorm2d's weight and bias; Caffe's eps default 1e-5 is PyTorch's."""
import os
import sys

import msgpack
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unet  # noqa: E402


def tensor(t):
    assert t["dtype"] == "f32", t["dtype"]
    return torch.from_numpy(np.frombuffer(t["data"], "<f4").copy()
                            .reshape([int(d) for d in t["shape"]]))


def load(model_path, base):
    with open(model_path, "rb") as f:
        m = msgpack.unpackb(f.read(), raw=False)
    if m.get("format") != "lvseg-fcn-model":
        sys.exit("archive_export.py: %s: not a model file" % model_path)
    L = m["layers"]
    net = unet.torch_unet(base)

    def conv(mod, name):
        w, b = L[name]
        mod.weight.data.copy_(tensor(w).reshape(mod.weight.shape))
        mod.bias.data.copy_(tensor(b).reshape(mod.bias.shape))

    def bn(mod, name):
        mean, var, fac = (tensor(t).flatten() for t in L[name + "_bn"])
        s = 0.0 if fac[0] == 0 else 1.0 / float(fac[0])
        mod.running_mean.copy_(mean * s)
        mod.running_var.copy_(var * s)
        mod.eps = 1e-5
        g, b = (tensor(t).flatten() for t in L[name + "_sc"])
        mod.weight.data.copy_(g)
        mod.bias.data.copy_(b)

    def block(seq, name):
        for i, (c, n) in enumerate(((0, 1), (3, 2))):
            conv(seq[c], "%s_%d" % (name, n))
            bn(seq[c + 1], "%s_%d" % (name, n))

    for lv in range(unet.LEVELS):
        block(net.enc[lv], "enc%d" % lv)
        block(net.dec[lv], "dec%d" % lv)
        conv(net.up[lv], "up%d" % lv)
    block(net.mid, "mid")
    conv(net.score, "score")
    return net.eval(), float(m["input"]["scale"]), float(m["input"]["shift"])


class Pre(torch.nn.Module):
    def __init__(self, net, scale, shift):
        super().__init__()
        self.net, self.scale, self.shift = net, scale, shift

    def forward(self, x):
        return self.net(x * self.scale + self.shift)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    net, scale, shift = load(sys.argv[1], int(sys.argv[2]))
    x = torch.zeros(1, 1, 256, 256)
    out = sys.argv[3]
    torch.onnx.export(Pre(net, scale, shift), x, out + ".tmp", input_names=["data"],
                      output_names=["score"], opset_version=17,
                      dynamic_axes={"data": {2: "h", 3: "w"}, "score": {2: "h", 3: "w"}})
    os.replace(out + ".tmp", out)
    print("scale=%g shift=%g" % (scale, shift))


if __name__ == "__main__":
    main()
