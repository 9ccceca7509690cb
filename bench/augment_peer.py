"""augment_peer.py LIB CONFIG N REPEAT STREAM - the peers of bench/augment.sh.

Reads the first N records of STREAM (1x256x256 i16 image + u8 label), then
times REPEAT passes of the same transforms over them (the best pass counts)
on one thread, and prints records per second by wall time and by the
process's CPU time.  Only the transforms and the
conversion back to the input dtypes are timed (no stream reading or
writing, which augment's figure includes).

LIB monai: MONAI 1.3.2 dictionary transforms (bench venv, Debian torch).
    flips: RandFlipd(axis 0, p 0.5), RandFlipd(axis 1, p 0.5),
           RandRotate90d(p 0.75, max_k 3)
    heavy: Rand2DElasticd(spacing 20, magnitude 1-2, rotate +-15 deg,
           scale +-15 %, p 1; bilinear image, nearest label: one resampling)
           + RandAdjustContrastd(gamma 0.7-1.5, p 1)
LIB scipy: NumPy/SciPy as nnU-Net's batchgenerators does it.
    flips: np.flip, np.rot90 (made contiguous)
    heavy: rotation + scale matrix and a Simard field (gaussian_filter of
           uniform noise, sigma 10, alpha 300) on full-resolution
           coordinates, map_coordinates order 1 (image) and 0 (label),
           then the gamma formula
"""
import math
import sys
import time

import msgpack
import numpy as np

DT = {"u8": np.uint8, "i16": np.int16}


def read(path, n):
    out = []
    with open(path, "rb") as f:
        for rec in msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 30):
            img, lab = rec["image"], rec["label"]
            out.append({"image": np.frombuffer(img["data"], DT[img["dtype"]]).reshape(img["shape"]),
                        "label": np.frombuffer(lab["data"], DT[lab["dtype"]]).reshape(lab["shape"])})
            if len(out) == n:
                break
    return out


def back(d):
    img = np.asarray(d["image"], dtype=np.float32)
    lab = np.asarray(d["label"])
    return (np.clip(np.rint(img), -32768, 32767).astype(np.int16),
            np.rint(lab).astype(np.uint8))


def monai_pipeline(config):
    import torch
    from monai import transforms as mt
    torch.set_num_threads(1)
    if config == "flips":
        t = mt.Compose([mt.RandFlipd(["image", "label"], prob=0.5, spatial_axis=0),
                        mt.RandFlipd(["image", "label"], prob=0.5, spatial_axis=1),
                        mt.RandRotate90d(["image", "label"], prob=0.75, max_k=3)])
    else:
        t = mt.Compose([mt.Rand2DElasticd(["image", "label"], spacing=(20, 20),
                                          magnitude_range=(1, 2), prob=1.0,
                                          rotate_range=(math.pi / 12,),
                                          scale_range=(0.15, 0.15),
                                          mode=("bilinear", "nearest"),
                                          padding_mode="zeros"),
                        mt.RandAdjustContrastd(["image"], prob=1.0, gamma=(0.7, 1.5))])
    t.set_random_state(seed=1)
    return lambda rec: back(t({"image": rec["image"].astype(np.float32),
                               "label": rec["label"].copy()}))


def scipy_pipeline(config):
    from scipy import ndimage
    rng = np.random.default_rng(1)
    if config == "flips":
        def f(rec):
            img, lab = rec["image"], rec["label"]
            for ax in (1, 2):
                if rng.random() < 0.5:
                    img, lab = np.flip(img, ax), np.flip(lab, ax)
            if rng.random() < 0.75:
                k = int(rng.integers(1, 4))
                img, lab = np.rot90(img, k, (1, 2)), np.rot90(lab, k, (1, 2))
            return np.ascontiguousarray(img), np.ascontiguousarray(lab)
        return f

    def g(rec):
        img, lab = rec["image"][0], rec["label"][0]
        h, w = img.shape
        th = math.radians(rng.uniform(-15, 15))
        z = rng.uniform(0.85, 1.15)
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        y -= (h - 1) / 2
        x -= (w - 1) / 2
        cy = (math.cos(th) * y + math.sin(th) * x) / z + (h - 1) / 2
        cx = (-math.sin(th) * y + math.cos(th) * x) / z + (w - 1) / 2
        cy += ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), 10, mode="constant") * 300
        cx += ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), 10, mode="constant") * 300
        v = ndimage.map_coordinates(img.astype(np.float64), [cy, cx], order=1, mode="constant")
        m = ndimage.map_coordinates(lab, [cy, cx], order=0, mode="constant")
        lo, hi = v.min(), v.max()
        v = lo + (hi - lo) * ((v - lo) / (hi - lo)) ** rng.uniform(0.7, 1.5)
        return np.rint(v).astype(np.int16)[None], m[None]
    return g


def main():
    lib, config, n, repeat, path = sys.argv[1:6]
    recs = read(path, int(n))
    f = monai_pipeline(config) if lib == "monai" else scipy_pipeline(config)
    f(recs[0])  # warm-up
    best = best_cpu = None
    for _ in range(int(repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        for r in recs:
            f(r)
        t, c = time.perf_counter() - t0, time.process_time() - c0
        best = t if best is None or t < best else best
        best_cpu = c if best_cpu is None or c < best_cpu else best_cpu
    print("%.1f %.1f" % (len(recs) / best, len(recs) / best_cpu))


if __name__ == "__main__":
    main()
