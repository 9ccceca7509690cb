"""scipy_augment.py - the independent reference for augment (tests only).

    scipy_augment.py make KIND OUT [N [H W]]
        KIND random: i16 images of random values, u8 label = image > 1000,
                     an f32 'prob' (2xHxW) and an untouched 'vec' tensor;
        KIND f32:    the same with f32 images;
        KIND flat:   2-D (HxW) i16 images and labels;
        KIND u8:     u8 images (saturation at 0 and 255);
        KIND smooth: i16 images of a bright ellipse on a ramp (smooth), label
                     = image > 1000, for the alignment check.
    scipy_augment.py check IN OUT [--copies N]
        Rebuilds every output record from its input and the parameters its
        meta 'augment' names: flips and 90-degree rotations with NumPy
        (np.rot90, np.flip, slicing: exact); rotation, scale, translation
        with scipy.ndimage.affine_transform (order 1, mode grid-constant;
        masks order 0); gamma by its formula; brightness and contrast by
        theirs; blur with scipy.ndimage.gaussian_filter (mode reflect).
        Integer images may differ by 1 (float32 vs float64 rounding), f32
        by 0.01 + 1e-5 |x| (float32
        coordinates on values changing by ~2300 per pixel); masks must match except 0.5 % of the pixels
        (nearest-neighbour ties).  Records with elastic deformation are
        checked for alignment only; with noise, the residual's standard
        deviation must be within 15 % of the drawn sd.
    scipy_augment.py align OUT THRESHOLD MAXFRAC
        label == (image > THRESHOLD) on all but MAXFRAC of the pixels.
Prints "ok N" or exits 1 with the first difference.
"""
import math
import sys

import numpy as np
from scipy import ndimage

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from stream import read_stream, write_stream  # noqa: E402

INFO = {np.dtype(np.uint8): (0, 255), np.dtype(np.int16): (-32768, 32767),
        np.dtype(np.uint16): (0, 65535), np.dtype(np.int32): (-2**31, 2**31 - 1)}


def fail(msg):
    print("scipy_augment: " + msg, file=sys.stderr)
    sys.exit(1)


def make(kind, path, n=4, h=24, w=20):
    rng = np.random.default_rng(11)
    recs = []
    for k in range(n):
        if kind == "smooth":
            y, x = np.mgrid[0:h, 0:w].astype(np.float64)
            cy, cx = h * (0.4 + 0.05 * k), w * 0.55
            e = ((y - cy) / (0.3 * h)) ** 2 + ((x - cx) / (0.22 * w)) ** 2
            img = (400 + 300 * x / w + 1400 * np.exp(-2 * e ** 2))[None]
            img = np.rint(img).astype(np.int16)
        else:
            img = rng.integers(-300, 2000, (1, h, w)).astype(np.int16)
            if kind == "f32":
                img = img.astype(np.float32) + rng.random((1, h, w), np.float32)
            if kind == "u8":
                img = rng.integers(0, 256, (1, h, w)).astype(np.uint8)
            if kind == "flat":
                img = img[0]
        rec = {"id": "%s/%d" % (kind, k), "image": img,
               "label": (img > (128 if kind == "u8" else 1000)).astype(np.uint8),
               "meta": {"case": "c%d" % (k % 2), "k": k}}
        if kind not in ("smooth", "flat"):
            rec["prob"] = rng.random((2, h, w), np.float32)
            rec["vec"] = np.arange(5, dtype=np.int32)
        recs.append(rec)
    write_stream(recs, path)


def parse(text):
    p = {}
    for tok in text.split():
        if "=" in tok:
            key, val = tok.split("=", 1)
            p[key] = [float(v) for v in val.split(",")]
        else:
            p[tok] = True
    return p


def to_dtype(v, dt):
    if dt == np.float32:
        return v.astype(np.float32)
    lo, hi = INFO[np.dtype(dt)]
    return np.clip(np.rint(np.nan_to_num(v)), lo, hi).astype(dt)


def exact_geometry(a, p, out_hw, fill):
    """Flips, rot90 and crop/pad with NumPy alone (whole pixels)."""
    k = int(p.get("rot90", [0])[0])
    a = np.rot90(a, k, axes=(-2, -1))
    if "flip_v" in p:
        a = np.flip(a, axis=-2)
    if "flip_h" in p:
        a = np.flip(a, axis=-1)
    if "crop" in p:
        oy, ox = (int(v) for v in p["crop"])
        ho, wo = out_hw
        out = np.full(a.shape[:-2] + (ho, wo), fill, dtype=a.dtype)
        hc, wc = a.shape[-2:]
        y0, y1 = max(0, oy), min(hc, oy + ho)
        x0, x1 = max(0, ox), min(wc, ox + wo)
        if y1 > y0 and x1 > x0:
            out[..., y0 - oy:y1 - oy, x0 - ox:x1 - ox] = a[..., y0:y1, x0:x1]
        a = out
    return np.ascontiguousarray(a)


def matrix(p, hw, out_hw):
    """Output pixel -> input point, from the documented forward transform:
    scale S, rotate R (counter-clockwise on screen), rot90 K, flips F, all
    about the centres, then translate t, then the crop offset."""
    h, w = hw
    k = int(p.get("rot90", [0])[0])
    hc, wc = (w, h) if k % 2 else (h, w)
    zy, zx = p.get("scale", [1, 1])
    th = math.radians(p.get("rotate", [0])[0])
    s = np.diag([zy, zx])
    r = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    kk = np.linalg.matrix_power(np.array([[0.0, -1.0], [1.0, 0.0]]), k)
    f = np.diag([-1.0 if "flip_v" in p else 1.0, -1.0 if "flip_h" in p else 1.0])
    fwd = f @ kk @ r @ s
    inv = np.linalg.inv(fwd)
    t = np.array(p.get("translate", [0, 0]))
    o = np.array(p.get("crop", [0, 0]))
    c_in = np.array([(h - 1) / 2, (w - 1) / 2])
    c_c = np.array([(hc - 1) / 2, (wc - 1) / 2])
    return inv, c_in + inv @ (o - c_c - t)


def warp(a, p, hw, out_hw, order, fill):
    inv, off = matrix(p, hw, out_hw)
    planes = a.reshape((-1,) + tuple(hw)).astype(np.float64)
    out = [ndimage.affine_transform(pl, inv, offset=off, output_shape=out_hw,
                                    order=order, mode="grid-constant", cval=fill)
           for pl in planes]
    return np.array(out).reshape(a.shape[:-2] + tuple(out_hw))


def gamma(img, g):
    v = img.astype(np.float64)
    lo, hi = v.min(), v.max()
    if hi > lo:
        v = lo + (hi - lo) * ((v - lo) / (hi - lo)) ** g
    return v


def check(src, dst, copies=1, fill=0.0, label_fill=0.0):
    ins = {r["id"]: r for r in read_stream(src)}
    outs = read_stream(dst)
    if len(outs) != copies * len(ins):
        fail("%d records out, want %d" % (len(outs), copies * len(ins)))
    for y in outs:
        x = ins[y["id"]]
        text = y["meta"].pop("augment")
        p = parse(text)
        if y["meta"] != x.get("meta", {}):
            fail("%s: meta changed: %r" % (y["id"], y["meta"]))
        img = x["image"]
        hw = img.shape[-2:]
        out_hw = y["image"].shape[-2:]
        geo = any(k in p for k in ("scale", "rotate", "translate"))
        integral = not geo and "elastic" not in p
        want = {}
        for name, t in x.items():
            if not isinstance(t, np.ndarray):
                if y.get(name) != t:
                    fail("%s: field %s changed" % (y["id"], name))
                continue
            spatial = t.ndim >= 2 and t.shape[-2:] == hw
            if not spatial:
                if not np.array_equal(y[name], t):
                    fail("%s: %s changed" % (y["id"], name))
                continue
            mask = name != "image" and (name in ("label", "pred") or t.dtype == np.uint8)
            v = gamma(t, p["gamma"][0]) if name == "image" and "gamma" in p else t
            f = label_fill if mask else fill
            if "elastic" in p:
                continue
            if integral:
                v = exact_geometry(v.astype(np.float64), p, out_hw, f)
            else:
                v = warp(v, p, hw, out_hw, 0 if mask else 1, f)
            if name == "image":
                if "brightness" in p:
                    v = v * p["brightness"][0]
                if "contrast" in p:
                    m = v.mean()
                    v = m + (v - m) * p["contrast"][0]
                if "blur" in p:
                    s = p["blur"][0]
                    v = ndimage.gaussian_filter(v, (0,) * (v.ndim - 2) + (s, s),
                                                mode="reflect")
            want[name] = (v, mask)
        for name, (v, mask) in want.items():
            got = y[name]
            if got.dtype != x[name].dtype or got.shape != v.shape:
                fail("%s: %s is %s %s, want %s %s" % (y["id"], name, got.dtype,
                     got.shape, x[name].dtype, v.shape))
            if name == "image" and "noise" in p:
                ref = to_dtype(v, got.dtype).astype(np.float64)
                sd = np.std(got.astype(np.float64) - ref)
                if not abs(sd - p["noise"][0]) <= 0.15 * p["noise"][0] + 0.5:
                    fail("%s: noise sd %.3f, drawn %.3f" % (y["id"], sd, p["noise"][0]))
                continue
            if mask:
                bad = np.mean(got != to_dtype(v, got.dtype))
                if bad > (0 if integral else 0.005):
                    fail("%s: %s differs on %.2f%% of pixels (%s)" % (y["id"], name,
                         100 * bad, text))
            elif got.dtype == np.float32:
                err = np.abs(got - v)
                if np.any(err > 1e-2 + 1e-5 * np.abs(v)):
                    fail("%s: %s differs by %g (%s)" % (y["id"], name, err.max(), text))
            else:
                err = np.abs(got.astype(np.float64) - to_dtype(v, got.dtype))
                exact = integral and not any(k in p for k in
                                             ("gamma", "brightness", "contrast", "blur"))
                if err.max() > (0 if exact else 1):
                    fail("%s: %s differs by %g (%s)" % (y["id"], name, err.max(), text))
    print("ok %d" % len(outs))


def align(dst, thr, maxfrac):
    n = 0
    for y in read_stream(dst):
        bad = np.mean(y["label"] != (y["image"] > thr))
        if bad > maxfrac:
            fail("%s: label and image > %g differ on %.2f%% (%s)"
                 % (y["id"], thr, 100 * bad, y["meta"]["augment"]))
        n += 1
    print("ok %d" % n)


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "make":
        make(a[2], a[3], *(int(v) for v in a[4:]))
    elif a[1] == "check":
        kw = {}
        rest = a[4:]
        while rest:
            kw[rest[0].lstrip("-").replace("-", "_")] = float(rest[1])
            rest = rest[2:]
        if "copies" in kw:
            kw["copies"] = int(kw["copies"])
        check(a[2], a[3], **kw)
    else:
        align(a[2], float(a[3]), float(a[4]))
