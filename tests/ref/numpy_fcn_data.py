"""numpy_fcn_data.py - small synthetic segmentation streams for the fcn tests.

Usage: numpy_fcn_data.py OUT N H W SEED [--channels C] [--dtype i16|u8|f32]
                         [--no-label] [--id-prefix P]
Each record: 'image' (C x H x W) = a bright disc on a dark noisy background,
'label' (u8 1 x H x W) = 1 inside the disc, and meta {"case": ...}.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stream import write_stream  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("n", type=int)
    ap.add_argument("h", type=int)
    ap.add_argument("w", type=int)
    ap.add_argument("seed", type=int)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--dtype", default="i16")
    ap.add_argument("--no-label", action="store_true")
    ap.add_argument("--id-prefix", default="img")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    yy, xx = np.mgrid[0:a.h, 0:a.w]
    recs = []
    for i in range(a.n):
        cy, cx = rng.uniform(0.3, 0.7) * a.h, rng.uniform(0.3, 0.7) * a.w
        r = rng.uniform(0.1, 0.25) * min(a.h, a.w)
        lab = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)
        img = 40 + 120 * lab + rng.normal(0, 10, (a.h, a.w))
        img = np.repeat(img[None], a.channels, axis=0)
        dt = {"i16": np.int16, "u8": np.uint8, "f32": np.float32}[a.dtype]
        rec = {"id": "%s%d" % (a.id_prefix, i), "image": img.clip(0, 255).astype(dt),
               "meta": {"case": "case%d" % (i % 3)}}
        if not a.no_label:
            rec["label"] = lab[None]
        recs.append(rec)
    write_stream(recs, a.out)


if __name__ == "__main__":
    main()
