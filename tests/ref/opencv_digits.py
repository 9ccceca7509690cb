"""opencv_digits.py STREAM - OpenCV reference for contour2mask --rule digits.

The DIGITS Sunnybrook plug-in made its masks as
    ctrs = np.loadtxt(path, delimiter=" ").astype(np.int)
    cv2.fillPoly(label, [ctrs], 1)
i.e. coordinates truncated towards zero, the polygon filled with its
boundary (8-connected edges).  For every record of STREAM whose meta
`contour` names a file, this compares its u8 `label` with that mask and
prints "N records, M identical"; exit 1 when any differs.
"""
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stream  # noqa: E402


def main():
    recs = stream.read_stream(sys.argv[1])
    same = 0
    for r in recs:
        label = r["label"][0]
        pts = np.loadtxt(r["meta"]["contour"], ndmin=2).astype(np.int32)
        ref = np.zeros(label.shape, np.uint8)
        cv2.fillPoly(ref, [pts], 1)
        if np.array_equal(ref, label):
            same += 1
        else:
            print("%s: %d pixels differ" % (r["id"], int((ref != label).sum())),
                  file=sys.stderr)
    print("%d records, %d identical" % (len(recs), same))
    sys.exit(0 if same == len(recs) and recs else 1)


if __name__ == "__main__":
    main()
