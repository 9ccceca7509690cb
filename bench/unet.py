#!/usr/bin/python3
"""unet.py BASE - the benchmark's U-Net as a Caffe description on stdout:
input 1x256x256, four levels of two 3x3 convolutions (pad 1) each followed
by BatchNorm + Scale + ReLU, 2x2 max pooling down, a bottleneck of the same
pair, 2x2 stride-2 deconvolutions up, the skip concatenated after the
upsampled map, and a 1x1 scorer (2 classes).  Channels BASE, 2 BASE, ...
16 BASE at the bottleneck.  bench/unet16.prototxt and unet32.prototxt are
its output for BASE 16 and 32; bench/peers.py builds the same net in
PyTorch (UNet below)."""
import sys

LEVELS = 4


def layer(text):
    return "layer { " + text + " }\n"


def conv_block(out, name, bottom, ch):
    top = bottom
    for i in (1, 2):
        n = "%s_%d" % (name, i)
        out.append(layer('name: "%s" type: "Convolution" bottom: "%s" top: "%s" '
                         'convolution_param { num_output: %d kernel_size: 3 pad: 1 '
                         'weight_filler { type: "msra" } }' % (n, top, n, ch)))
        out.append(layer('name: "%s_bn" type: "BatchNorm" bottom: "%s" top: "%s"'
                         % (n, n, n)))
        out.append(layer('name: "%s_sc" type: "Scale" bottom: "%s" top: "%s" '
                         'scale_param { bias_term: true }' % (n, n, n)))
        out.append(layer('name: "%s_relu" type: "ReLU" bottom: "%s" top: "%s"'
                         % (n, n, n)))
        top = n
    return top


def prototxt(base):
    out = ['name: "unet%d"\n' % base,
           layer('name: "input" type: "Input" top: "data" top: "label"')]
    top, skips, ch = "data", [], base
    for lv in range(LEVELS):
        top = conv_block(out, "enc%d" % lv, top, ch)
        skips.append(top)
        out.append(layer('name: "pool%d" type: "Pooling" bottom: "%s" top: "pool%d" '
                         'pooling_param { pool: MAX kernel_size: 2 stride: 2 }'
                         % (lv, top, lv)))
        top = "pool%d" % lv
        ch *= 2
    top = conv_block(out, "mid", top, ch)
    for lv in reversed(range(LEVELS)):
        ch //= 2
        out.append(layer('name: "up%d" type: "Deconvolution" bottom: "%s" top: "up%d" '
                         'convolution_param { num_output: %d kernel_size: 2 stride: 2 '
                         'weight_filler { type: "msra" } }' % (lv, top, lv, ch)))
        out.append(layer('name: "cat%d" type: "Concat" bottom: "up%d" bottom: "%s" '
                         'top: "cat%d"' % (lv, lv, skips[lv], lv)))
        top = conv_block(out, "dec%d" % lv, "cat%d" % lv, ch)
    out.append(layer('name: "score" type: "Convolution" bottom: "%s" top: "score" '
                     'convolution_param { num_output: 2 kernel_size: 1 '
                     'weight_filler { type: "msra" } }' % top))
    out.append(layer('name: "loss" type: "SoftmaxWithLoss" bottom: "score" '
                     'bottom: "label" top: "loss" exclude { stage: "deploy" }'))
    return "".join(out)


def torch_unet(base):
    """The same net in PyTorch (eval mode: BatchNorm on stored statistics)."""
    import torch
    import torch.nn as nn

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            chs = [base << i for i in range(LEVELS + 1)]
            self.enc = nn.ModuleList(block(1 if i == 0 else chs[i - 1], chs[i])
                                     for i in range(LEVELS))
            self.mid = block(chs[LEVELS - 1], chs[LEVELS])
            self.up = nn.ModuleList(nn.ConvTranspose2d(chs[i + 1], chs[i], 2, 2)
                                    for i in range(LEVELS))
            self.dec = nn.ModuleList(block(2 * chs[i], chs[i]) for i in range(LEVELS))
            self.score = nn.Conv2d(base, 2, 1)

        def forward(self, x):
            skips = []
            for e in self.enc:
                x = e(x)
                skips.append(x)
                x = torch.nn.functional.max_pool2d(x, 2, 2)
            x = self.mid(x)
            for i in reversed(range(LEVELS)):
                x = self.dec[i](torch.cat([self.up[i](x), skips[i]], 1))
            return self.score(x)

    return UNet()


if __name__ == "__main__":
    sys.stdout.write(prototxt(int(sys.argv[1]) if len(sys.argv) > 1 else 16))
