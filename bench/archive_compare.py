#!/usr/bin/python3
"""archive_compare.py MASKS.ts PEERDIR - our predicted masks (the 'pred'
tensors of fcn-predict's stream, ids CASE/NAME) against the peer's
PEERDIR/CASE.npy (bench/archive_peer.py, frames in the same order):
prints frames, frames_identical, pixel_agreement (fraction of equal
pixels) and lv_pixels of each side.  Debian's NumPy and msgpack."""
import os
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "tests", "ref"))
import stream  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ours = defaultdict(list)
    for r in stream.read_stream(sys.argv[1]):
        ours[r["id"].rsplit("/", 1)[0]].append(r["pred"][0])
    n = same = eq = tot = po = pp = 0
    for case, frames in sorted(ours.items()):
        theirs = np.load(os.path.join(sys.argv[2], case + ".npy"))
        if len(theirs) != len(frames):
            sys.exit("archive_compare.py: %s: %d frames ours, %d peer"
                     % (case, len(frames), len(theirs)))
        for a, b in zip(frames, theirs):
            n += 1
            same += bool(np.array_equal(a, b))
            eq += int((a == b).sum())
            tot += a.size
            po += int((a == 1).sum())
            pp += int((b == 1).sum())
    print("frames=%d\nframes_identical=%d\npixel_agreement=%.6f\n"
          "lv_pixels_ours=%d\nlv_pixels_peer=%d" % (n, same, eq / tot, po, pp))


if __name__ == "__main__":
    main()
