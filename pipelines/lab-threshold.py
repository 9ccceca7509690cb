#!/usr/bin/python3
"""lab-threshold.py - how a fold's Dice depends on the probability threshold.

    pipelines/lab-threshold.py [-t T,T,...] NAME=PRED.ts ...

Each PRED.ts is fcn-predict output made with --prob (and any --tta,
ensemble, post-processing): records with 'label' (1xHxW) and 'prob'
(2xHxW).  For each threshold T the left ventricle is prob[1] >= T (no
post-processing), and for each NAME one TSV line says the mean per-frame
Dice (a frame with both masks empty counts 1, as dice-score counts it)
and the ratio of predicted to expert area over its frames; the line with
T "pred" scores the stream's own 'pred' field (arg-max, then whatever
post-processing made it).  An analysis of trained folds, not a step of
the recipe: choosing T from these figures would tune it to the folds.
Needs numpy (Debian's python3-numpy).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "ref"))
from stream import read_stream  # noqa: E402


def dice(p, t):
    s = p.sum() + t.sum()
    return 1.0 if s == 0 else 2.0 * np.logical_and(p, t).sum() / s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-t", "--thresholds", default="0.3,0.4,0.45,0.5,0.55,0.6")
    ap.add_argument("runs", nargs="+", metavar="NAME=PRED.ts")
    a = ap.parse_args()
    ts = [float(x) for x in a.thresholds.split(",")]
    print("name\tthreshold\tframes\tmean_dice\tarea_ratio")
    for run in a.runs:
        name, _, path = run.partition("=")
        if not path:
            sys.exit("lab-threshold.py: %s: want NAME=PRED.ts" % run)
        recs = read_stream(path)
        if not recs or any("prob" not in r or "label" not in r for r in recs):
            sys.exit("lab-threshold.py: %s: records need 'prob' and 'label'" % path)
        lab = [r["label"][0] > 0 for r in recs]
        for t in ["pred"] + ts:
            if t == "pred":
                pr = [r["pred"][0] > 0 for r in recs]
            else:
                pr = [r["prob"][1] >= t for r in recs]
            d = np.mean([dice(p, q) for p, q in zip(pr, lab)])
            area = sum(int(p.sum()) for p in pr) / max(1, sum(int(q.sum()) for q in lab))
            print("%s\t%s\t%d\t%.4f\t%.4f" % (name, t, len(recs), d, area))


if __name__ == "__main__":
    main()
