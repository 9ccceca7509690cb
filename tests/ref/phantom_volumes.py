"""phantom_volumes.py - expected lv-volume results for a phantom tree.

Usage: phantom_volumes.py DIR PHASES REPORT [--shoelace TOL]
From the phantom's own files only (no DICOM meta, no lvseg program): frame
N of case PH-k is slice (N-1) // PHASES, phase (N-1) % PHASES (docs/
phantom.md); pixel spacing 1.367188 mm, slices 10 mm apart.  Per phase, the
blood volume is the sum over slices of the pixels scikit-image's
polygon2mask fills in the i-contour x 1.367188^2 x 10 mm; the myocardium the
o-contour's pixels not in the i-contour, at ED only (o-contours are drawn on
even phases).  Compares with lv-volume's --per-phase TSV REPORT to 1e-5
(exact pixel counts).  With --shoelace TOL, also checks the volumes against
the polygons' own areas (the shoelace formula: the geometry itself, no
pixels) to a relative TOL.  Exit 1 on a difference.
"""
import glob
import os
import re
import sys

import numpy as np
from skimage.draw import polygon2mask

PS, H = 1.367188, 10.0


def fill(path, shape):
    xy = np.loadtxt(path, ndmin=2)
    return polygon2mask(shape, xy[:, ::-1])


def shoelace(path):
    x, y = np.loadtxt(path, ndmin=2).T
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def main(argv):
    root, P, report = argv[1], int(argv[2]), argv[3]
    tol = float(argv[argv.index("--shoelace") + 1]) if "--shoelace" in argv else None
    blocks = open(report).read().split("\n\n")
    per = [l.split("\t") for l in blocks[0].strip().split("\n")[1:]]
    summ = [l.split("\t") for l in blocks[1].strip().split("\n")[1:]]
    got = {(r[0], int(r[1])): r for r in per}
    bad = []
    size = None
    cases = sorted(os.listdir(os.path.join(root, "contourfiles")))
    for case in cases:
        files = sorted(glob.glob(os.path.join(root, "contourfiles", case, "i-contours", "*.txt")))
        if size is None:
            # image size: the DICOM rows/columns are not read; the phantom's
            # square size is passed through the environment
            size = int(os.environ.get("PHANTOM_SIZE", "256"))
        vol, area, myo = {}, {}, {}
        for f in files:
            n = int(re.search(r"IM-0001-(\d+)-", f).group(1))
            s, p = (n - 1) // P, (n - 1) % P
            m = fill(f, (size, size))
            vol[p] = vol.get(p, 0) + m.sum() * PS * PS * H / 1000
            area[p] = area.get(p, 0) + shoelace(f) * PS * PS * H / 1000
            o = f.replace("i-contours", "o-contours").replace("icontour", "ocontour")
            if os.path.exists(o):
                myo[p] = myo.get(p, 0) + (fill(o, (size, size)) & ~m).sum() * PS * PS * H / 1000
        for p in sorted(vol):
            g = got.get((case, p))
            if not g or abs(float(g[4]) - vol[p]) > 1e-5 or abs(float(g[5]) - myo.get(p, 0)) > 1e-5:
                bad.append("%s phase %d: got %s want blood %.6f myo %.6f" % (case, p, g, vol[p], myo.get(p, 0)))
        ed, es = max(vol, key=vol.get), min(vol, key=vol.get)
        ef = 100 * (vol[ed] - vol[es]) / vol[ed]
        mass = 1.05 * myo[ed] if myo.get(ed) else float("nan")
        row = [r for r in summ if r[0] == case]
        want = [case, str(len(vol)), "", "%.6f" % vol[ed], "%.6f" % vol[es], "", "%.6f" % ef,
                str(ed), str(es), "%.6f" % mass]
        if not row:
            bad.append("%s: no summary row" % case)
            continue
        row = row[0]
        for i in (1, 7, 8):
            if row[i] != want[i]:
                bad.append("%s column %d: got %s want %s" % (case, i, row[i], want[i]))
        for i in (3, 4, 6, 9):
            if abs(float(row[i]) - float(want[i])) > 1e-5:
                bad.append("%s column %d: got %s want %s" % (case, i, row[i], want[i]))
        if tol is not None:
            for p in vol:
                if abs(vol[p] - area[p]) > tol * area[p]:
                    bad.append("%s phase %d: pixels %.4f ml, polygon %.4f ml" % (case, p, vol[p], area[p]))
            ef_true = 100 * (area[ed] - area[es]) / area[ed]
            print("%s EDV %.3f ml (polygon %.3f) ESV %.3f (%.3f) EF %.2f %% (%.2f)"
                  % (case, vol[ed], area[ed], vol[es], area[es], ef, ef_true))
    for b in bad:
        print(b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
