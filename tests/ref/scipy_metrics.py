"""scipy_metrics.py - SciPy reference for dice-score --metrics.

Usage: scipy_metrics.py STREAM REPORT
       scipy_metrics.py --make OUT SEED RECORDS
Recomputes, with scipy.ndimage and numpy and without tracing a contour, the
per-record and per-case tables of `dice-score --metrics` (TSV REPORT) and
compares them (tolerance 1e-6):
  outline   the pixel edges between the filled (8-connected background)
            largest 4-connected component and the rest; its points are each
            edge's midpoint (weight 1) and ends (weight 1/2 each), which is
            what a trace sampled every half pixel visits;
  APD       weighted mean over the predicted outline's points of the distance
            to the nearest label outline edge (coordinates x spacing);
  HD, HD95  boundary pixels = mask minus its 4-neighbour erosion (outside the
            image is background); distance_transform_edt of the other
            boundary's complement, sampling = pixel spacing; HD the larger
            maximum, HD95 the larger np.percentile(.., 95) of both directions.
--make writes a test stream: random blobs, some empty, several cases and
spacings.  Exit 0 when everything agrees, 1 with the differences on stderr.
"""
import math
import os
import sys

import numpy as np
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stream import read_stream, write_stream  # noqa: E402

CROSS = ndimage.generate_binary_structure(2, 1)


def filled_component(m):
    lab, n = ndimage.label(m, structure=CROSS)
    if n == 0:
        return None
    sizes = np.bincount(lab.ravel())[1:]
    k = 1 + int(np.argmax(sizes))  # first label of the largest size
    return ndimage.binary_fill_holes(lab == k, structure=np.ones((3, 3)))


def edges(f):
    """Unit pixel edges of f as (x0, y0, x1, y1) rows."""
    p = np.pad(f, 1).astype(np.int8)
    out = []
    dv = np.argwhere(p[1:, 1:-1] != p[:-1, 1:-1])   # between rows r-1 and r
    for r, c in dv:
        out.append((c - 0.5, r - 0.5, c + 0.5, r - 0.5))
    dh = np.argwhere(p[1:-1, 1:] != p[1:-1, :-1])   # between cols c-1 and c
    for r, c in dh:
        out.append((c - 0.5, r - 0.5, c - 0.5, r + 0.5))
    return np.array(out, float)


def apd(pred, lab, sy, sx):
    ep, el = edges(pred), edges(lab)
    pts = np.concatenate([(ep[:, :2] + ep[:, 2:]) / 2, ep[:, :2], ep[:, 2:]])
    wts = np.concatenate([np.ones(len(ep)), np.full(2 * len(ep), 0.5)])
    scale = np.array([sx, sy])
    pts = pts * scale
    a, b = el[:, :2] * scale, el[:, 2:] * scale
    v = b - a
    w = pts[:, None, :] - a[None]
    t = np.clip((w * v).sum(-1) / (v * v).sum(-1), 0, 1)
    d = np.sqrt(((w - t[..., None] * v) ** 2).sum(-1)).min(1)
    return float((d * wts).sum() / wts.sum())


def boundary(m):
    return m & ~ndimage.binary_erosion(m, structure=CROSS, border_value=0)


def hd(pred, lab, sy, sx):
    bp, bl = boundary(pred), boundary(lab)
    dab = ndimage.distance_transform_edt(~bl, sampling=(sy, sx))[bp]
    dba = ndimage.distance_transform_edt(~bp, sampling=(sy, sx))[bl]
    return (max(dab.max(), dba.max()),
            max(np.percentile(dab, 95), np.percentile(dba, 95)))


def record_metrics(r, c, spacing=None):
    lab = r["label"][0] == c if r["label"].ndim == 3 else r["label"] == c
    pred = r["pred"][0] == c if r["pred"].ndim == 3 else r["pred"] == c
    sy, sx = spacing or r["meta"]["pixel_spacing"]
    hl, hp = bool(lab.any()), bool(pred.any())
    inter, tot = int((lab & pred).sum()), int(lab.sum() + pred.sum())
    dice = 1.0 if tot == 0 else 2 * inter / tot
    if hl and hp:
        a = apd(filled_component(pred), filled_component(lab), sy, sx)
        h, h95 = hd(pred, lab, sy, sx)
    else:
        a = h = h95 = math.nan
    return dict(dice=dice, apd=a, hd=h, hd95=h95, hl=hl, hp=hp,
                good=hl and hp and a < 5.0)


def close(a, b):
    if isinstance(b, float) and math.isnan(b):
        return a == "nan"
    return abs(float(a) - b) <= 1e-6


def main(argv):
    if argv[1] == "--make":
        return make(argv[2], int(argv[3]), int(argv[4]))
    recs = read_stream(argv[1])
    blocks = open(argv[2]).read().split("\n\n")
    per = [l.split("\t") for l in blocks[-2].strip("\n").split("\n")]
    cases = [l.split("\t") for l in blocks[-1].strip("\n").split("\n")]
    bad = []
    k = max(2, 1 + max(max(int(r["label"].max()), int(r["pred"].max())) for r in recs))
    want, rows = [], []
    for r in recs:
        case = r.get("meta", {}).get("case", r["id"].rpartition("/")[0] or r["id"])
        for c in range(1, k):
            m = record_metrics(r, c)
            want.append((case, c, m))
            rows.append([r["id"], case, c, m["dice"], m["apd"], m["hd"], m["hd95"],
                         int(m["hl"]), int(m["hp"]), int(m["good"])])
    if len(per) - 1 != len(rows):
        bad.append("per-record rows: %d, want %d" % (len(per) - 1, len(rows)))
    for g, w in zip(per[1:], rows):
        if g[:3] != [w[0], w[1], str(w[2])] or [int(x) for x in g[7:]] != w[7:] \
                or not all(close(a, b) for a, b in zip(g[3:7], w[3:7])):
            bad.append("record %s class %s: got %s want %s" % (w[0], w[2], g, w))
    order = []
    for case, _, _ in want:
        if case not in order:
            order.append(case)
    exp = []
    for case in order + ["all"]:
        for c in range(1, k):
            ms = [m for cs, cc, m in want if cc == c and (case == "all" or cs == case)]
            con = [m for m in ms if m["hl"]]
            both = [m for m in con if m["hp"]]
            good = [m for m in ms if m["good"]]
            mean = lambda xs: sum(xs) / len(xs) if xs else math.nan  # noqa: E731
            exp.append([case, c, len(ms), len(con), len(good),
                        100.0 * len(good) / len(con) if con else math.nan,
                        mean([m["dice"] for m in con]), mean([m["dice"] for m in good]),
                        mean([m["apd"] for m in both]), mean([m["apd"] for m in good]),
                        mean([m["hd"] for m in both]), mean([m["hd95"] for m in both]),
                        len(con) - len(both), sum(m["hp"] and not m["hl"] for m in ms)])
    if len(cases) - 1 != len(exp):
        bad.append("per-case rows: %d, want %d" % (len(cases) - 1, len(exp)))
    for g, w in zip(cases[1:], exp):
        ints = [int(x) for x in g[2:5] + g[12:]]
        if g[0] != w[0] or int(g[1]) != w[1] or ints != w[2:5] + w[12:] \
                or not all(close(a, b) for a, b in zip(g[5:12], w[5:12])):
            bad.append("case %s class %s: got %s want %s" % (w[0], w[1], g, w))
    for b in bad:
        print(b, file=sys.stderr)
    return 1 if bad else 0


def blob(rng, h, w):
    yy, xx = np.mgrid[:h, :w]
    cy, cx = rng.uniform(0.3 * h, 0.7 * h), rng.uniform(0.3 * w, 0.7 * w)
    r = rng.uniform(3, 0.3 * min(h, w))
    t = np.arctan2(yy - cy, xx - cx)
    rr = r * (1 + 0.2 * np.cos(3 * t + rng.uniform(0, 6)))
    return np.hypot(yy - cy, xx - cx) <= rr


def make(out, seed, n):
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n):
        h, w = 24 + i % 5, 30
        lab = blob(rng, h, w).astype(np.uint8)
        pred = blob(rng, h, w).astype(np.uint8) if i % 4 else lab.copy()
        if i % 3 == 0:
            pred = (pred | (rng.random((h, w)) < 0.02)).astype(np.uint8)
        if i % 5 == 2:  # holes and a second class
            pred[rng.random((h, w)) < 0.05] = 2
            lab[h // 2 - 1:h // 2 + 1, w // 2 - 1:w // 2 + 1] = 2
        if i == 3:
            pred[:] = 0         # missed
        if i == 4:
            lab[:] = 0          # false positive
        if i == 5:
            lab[:] = 0
            pred[:] = 0         # both empty
        sp = [1.25, 1.25] if i % 2 else [1.5, 0.75]
        recs.append({"id": "c%d/r%d" % (i % 3, i), "label": lab[None], "pred": pred[None],
                     "meta": {"pixel_spacing": sp, **({"case": "K%d" % (i % 3)} if i % 2 else {})}})
    write_stream(recs, out)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
