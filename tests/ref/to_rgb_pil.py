"""to_rgb_pil.py - the independent reference for to-rgb (tests only).

    to_rgb_pil.py make OUT       a stream of u8/i16/u16/f32 RGB and gray images
    to_rgb_pil.py check IN OUT   OUT == to-rgb --channels 1 of IN, per record:
                                 u8 against PIL's convert("L") itself; i16, u16
                                 and f32 against the documented formula in
                                 NumPy; gray records unchanged
    to_rgb_pil.py check3 IN OUT  OUT == to-rgb --channels 3 of IN
Exits 1 with a message on the first difference.
"""
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from stream import read_stream, write_stream  # noqa: E402


def make(path):
    rng = np.random.default_rng(7)
    recs = []
    u8 = rng.integers(0, 256, (3, 17, 23), dtype=np.uint8)
    u8[:, 0, :6] = [[0, 255, 1, 128, 0, 0], [0, 255, 1, 0, 128, 0],
                    [0, 255, 1, 0, 0, 128]]
    recs.append({"id": "rgb/u8", "image": u8, "label": (u8[:1] > 128).astype(np.uint8),
                 "meta": {"case": "a"}})
    recs.append({"id": "rgb/i16", "image": rng.integers(-2000, 3000, (3, 9, 11)).astype(np.int16),
                 "meta": {"case": "b"}, "extra": [1, "x"]})
    recs.append({"id": "rgb/u16", "image": rng.integers(0, 65536, (3, 5, 7)).astype(np.uint16)})
    recs.append({"id": "rgb/f32", "image": rng.normal(0, 100, (3, 6, 4)).astype(np.float32)})
    recs.append({"id": "gray/u8", "image": rng.integers(0, 256, (1, 4, 5), dtype=np.uint8)})
    recs.append({"id": "gray/i16", "image": rng.integers(-50, 900, (1, 8, 8)).astype(np.int16),
                 "meta": {"case": "c"}})
    write_stream(recs, path)


def fail(msg):
    print("to_rgb_pil: " + msg, file=sys.stderr)
    sys.exit(1)


def luma(img):
    if img.dtype == np.uint8:
        pil = Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0)), "RGB")
        return np.asarray(pil.convert("L"))[None]
    if img.dtype == np.float32:
        r, g, b = img.astype(np.float64)
        return (0.299 * r + 0.587 * g + 0.114 * b).astype(np.float32)[None]
    r, g, b = img.astype(np.int64)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(img.dtype)[None]


def check(src, dst, channels):
    a, b = read_stream(src), read_stream(dst)
    if len(a) != len(b):
        fail("%d records in, %d out" % (len(a), len(b)))
    for x, y in zip(a, b):
        img, out = x["image"], y["image"]
        c = img.shape[0]
        if c == channels:
            want, tag = img, None
        elif channels == 1:
            want, tag = luma(img), "rgb->gray"
        else:
            want, tag = np.repeat(img, 3, axis=0), "gray->rgb"
        if out.dtype != img.dtype or out.shape != want.shape or not np.array_equal(out, want):
            fail("%s: image differs (%s %s vs %s %s)" % (x["id"], out.dtype, out.shape,
                                                      want.dtype, want.shape))
        meta = dict(x.get("meta", {}))
        if tag:
            meta["to_rgb"] = tag
        if y.get("meta", {}) != meta:
            fail("%s: meta %r, want %r" % (x["id"], y.get("meta"), meta))
        for k in x:
            if k not in ("image", "meta"):
                same = (np.array_equal(x[k], y[k]) if isinstance(x[k], np.ndarray)
                        else x[k] == y[k])
                if not same:
                    fail("%s: field %s changed" % (x["id"], k))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3], 1)
    else:
        check(sys.argv[2], sys.argv[3], 3)
