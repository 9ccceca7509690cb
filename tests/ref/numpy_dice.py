"""numpy_dice.py - numpy reference for dice-score.

Usage: numpy_dice.py STREAM REPORT [--per-record]
       numpy_dice.py --make OUT SEED CLASSES RECORDS
Computes Dice per foreground class (both empty: 1, counted as both_empty),
mean / population std / min / max over records, global Dice and pixel
accuracy from the stream with numpy, and compares them with dice-score's
TSV REPORT (tolerance 2e-6).  Exit 0 when they agree, 1 with the
differences on stderr otherwise.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stream import read_stream, write_stream  # noqa: E402


def reference(recs):
    labels = [r["label"].astype(np.int64).ravel() for r in recs]
    preds = [r["pred"].astype(np.int64).ravel() for r in recs]
    k = max(2, 1 + max(max(l.max(), p.max()) for l, p in zip(labels, preds)))
    pixels = sum(l.size for l in labels)
    acc = sum(int((l == p).sum()) for l, p in zip(labels, preds)) / pixels
    rows, per = [], []
    for c in range(1, k):
        d, empty, tp, s = [], 0, 0, 0
        for r, l, p in zip(recs, labels, preds):
            inter = int(((l == c) & (p == c)).sum())
            tot = int((l == c).sum() + (p == c).sum())
            d.append(1.0 if tot == 0 else 2 * inter / tot)
            empty += tot == 0
            tp += inter
            s += tot
            per.append((r["id"], c, d[-1], int((l == c).sum()),
                        int((p == c).sum()), int(tot == 0)))
        d = np.array(d)
        rows.append([c, len(recs), d.mean(), d.std(), d.min(), d.max(),
                     1.0 if s == 0 else 2 * tp / s, empty, pixels, acc])
    return rows, per


def make(out, seed, k, n):
    """A test stream: random label/pred masks, one record both empty."""
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n - 1):
        h, w = 8 + i % 3, 12
        lab = rng.integers(0, k, (1, h, w)) * (rng.random((1, h, w)) < 0.5)
        pred = np.where(rng.random((1, h, w)) < 0.7, lab, rng.integers(0, k, (1, h, w)))
        recs.append({"id": "rec%d" % i, "label": lab.astype(np.uint8),
                     "pred": pred.astype(np.uint8), "meta": {"case": "c%d" % i}})
    recs.append({"id": "empty", "label": np.zeros((1, 5, 5), np.uint8),
                 "pred": np.zeros((1, 5, 5), np.uint8)})
    write_stream(recs, out)


def main(argv):
    if argv[1] == "--make":
        return make(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    recs = read_stream(argv[1])
    lines = open(argv[2]).read().split("\n")
    rows, per = reference(recs)
    bad = []
    if len(argv) > 3 and argv[3] == "--per-record":
        blank = lines.index("")
        got = [l.split("\t") for l in lines[1:blank]]
        want = sorted(per, key=lambda x: ([r["id"] for r in recs].index(x[0]), x[1]))
        if len(got) != len(want):
            bad.append("per-record rows: %d, want %d" % (len(got), len(want)))
        for g, w in zip(got, want):
            if g[0] != w[0] or int(g[1]) != w[1] or abs(float(g[2]) - w[2]) > 2e-6 \
                    or [int(x) for x in g[3:]] != list(w[3:]):
                bad.append("per-record %s: got %s want %s" % (w[0], g, w))
        lines = lines[blank + 1:]
    if lines[0].split("\t") != ["class", "records", "mean", "std", "min", "max",
                                "global_dice", "both_empty", "pixels",
                                "pixel_accuracy"]:
        bad.append("header: %r" % lines[0])
    got = [l.split("\t") for l in lines[1:] if l]
    if len(got) != len(rows):
        bad.append("%d summary rows, want %d" % (len(got), len(rows)))
    for g, w in zip(got, rows):
        for name, a, b in zip(["class", "records", "mean", "std", "min", "max",
                               "global_dice", "both_empty", "pixels", "acc"],
                              g, w):
            if abs(float(a) - float(b)) > 2e-6:
                bad.append("class %s %s: got %s want %.9g" % (w[0], name, a, b))
    for b in bad:
        print(b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
