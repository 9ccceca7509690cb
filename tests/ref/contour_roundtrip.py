"""contour_roundtrip.py - check mask2contour's files independently.

Usage: contour_roundtrip.py MASKS.ts LISTING.tsv [FIELD [MIN_DICE]] [--back BACK.ts]
For each record of MASKS.ts (field FIELD, default pred, class 1 = inside)
and the matching line `id file points` of mask2contour's LISTING, fills the
file with scikit-image's polygon2mask and checks that it equals the filled
largest 4-connected component of the mask (scipy.ndimage, see
scipy_metrics.py), that the polygon runs on half-integers in steps of half a
pixel, and that Dice(mask, filled file) >= MIN_DICE (default 0.98).  With
--back, BACK.ts (contour2mask --size of the same files, in listing order)
must equal the skimage fill too.  Prints `records N exact E min_dice D
max_diff_pixels P`; exit 1 on any failure.
"""
import os
import sys

import numpy as np
from skimage.draw import polygon2mask

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scipy_metrics import filled_component  # noqa: E402
from stream import read_stream  # noqa: E402


def main(argv):
    back = None
    if "--back" in argv:
        i = argv.index("--back")
        back = [r["label"][0] for r in read_stream(argv[i + 1])]
        argv = argv[:i] + argv[i + 2:]
    recs = read_stream(argv[1])
    field = argv[3] if len(argv) > 3 else "pred"
    min_dice = float(argv[4]) if len(argv) > 4 else 0.98
    rows = [l.split("\t") for l in open(argv[2]).read().splitlines()]
    bad, exact, dmin, pmax, k = [], 0, 1.0, 0, 0
    for r, row in zip(recs, rows):
        m = r[field].reshape(r[field].shape[-2:]) == 1
        if row[0] != r["id"]:
            bad.append("%s: listing says %s" % (r["id"], row[0]))
            continue
        if not m.any():
            if row[1] != "" or row[2] != "0":
                bad.append("%s: empty mask but %s" % (r["id"], row))
            continue
        xy = np.loadtxt(row[1], ndmin=2)
        if len(xy) != int(row[2]) or np.any(xy * 2 != np.round(xy * 2)):
            bad.append("%s: points not on the half-pixel grid" % r["id"])
        step = np.abs(np.diff(np.vstack([xy, xy[:1]]), axis=0)).sum(1)
        if np.any(step != 0.5):
            bad.append("%s: steps other than half a pixel" % r["id"])
        filled = polygon2mask(m.shape, xy[:, ::-1])
        want = filled_component(m)
        if back is not None:
            if not np.array_equal(back[k] == 1, filled):
                bad.append("%s: contour2mask differs from polygon2mask" % r["id"])
            k += 1
        if not np.array_equal(filled, want):
            bad.append("%s: fill differs from the filled largest component in %d pixels"
                       % (r["id"], int((filled != want).sum())))
        diff = int((filled != m).sum())
        exact += diff == 0
        pmax = max(pmax, diff)
        d = 2 * (filled & m).sum() / (filled.sum() + m.sum())
        dmin = min(dmin, d)
        if d < min_dice:
            bad.append("%s: Dice %.4f < %g" % (r["id"], d, min_dice))
    if len(rows) != len(recs):
        bad.append("listing has %d lines for %d records" % (len(rows), len(recs)))
    print("records %d exact %d min_dice %.6f max_diff_pixels %d" % (len(recs), exact, dmin, pmax))
    for b in bad:
        print(b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
