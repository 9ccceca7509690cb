"""skimage_masks.py - scikit-image reference for contour2mask's centre rule.

    skimage_masks.py make --size HxW CONTOUR.txt...   > ref.ts
        one record per contour file, as `contour2mask --size`: id the path
        without .txt, u8 label 1xHxW from skimage.draw.polygon2mask, meta
        contour = the path.
    skimage_masks.py check [--key K] [--field F] [--image I]
                           [--classes K1=V1,K2=V2] STREAM
        for every record whose meta K (default contour) names a contour file,
        checks tensor F (default label) against polygon2mask on the shape of
        tensor I (default image; F's own shape when I is absent).  With
        --classes the expected label paints each named contour present
        (non-empty) with its value, in order, and values must match exactly;
        a record is labelled when it names any of them.  Prints
        "N records, M labelled, M identical" and exits 1 when any differs
        (each difference reported on stderr) or no record is labelled.

A contour file is one "x y" pair per line, x = column, y = row, so the
polygon handed to polygon2mask (rows, columns) is the file's columns swapped.
"""
import os
import sys

import numpy as np
from skimage.draw import polygon2mask

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stream  # noqa: E402


def reference_mask(path, shape):
    xy = np.loadtxt(path, ndmin=2)
    return polygon2mask(shape, xy[:, ::-1]).astype(np.uint8)


def make(args):
    if len(args) < 3 or args[0] != "--size":
        sys.exit("usage: skimage_masks.py make --size HxW FILE...")
    h, w = (int(v) for v in args[1].split("x"))
    recs = []
    for path in args[2:]:
        rid = path[:-4] if path.endswith(".txt") else path
        recs.append({"id": rid,
                     "label": reference_mask(path, (h, w))[None],
                     "meta": {"contour": path}})
    stream.write_stream(recs, "-")


def check(args):
    key, field, image, classes = "contour", "label", "image", None
    while len(args) > 1 and args[0] in ("--key", "--field", "--image",
                                        "--classes"):
        if args[0] == "--key":
            key = args[1]
        elif args[0] == "--field":
            field = args[1]
        elif args[0] == "--image":
            image = args[1]
        else:
            classes = [(kv.split("=")[0], int(kv.split("=")[1]))
                       for kv in args[1].split(",")]
        args = args[2:]
    if len(args) != 1:
        sys.exit("usage: skimage_masks.py check [--key K] [--field F] "
                 "[--image I] [--classes K=V,...] STREAM")
    paint = classes if classes else [(key, 1)]
    recs = stream.read_stream(args[0])
    labelled = same = 0
    for rec in recs:
        meta = rec.get("meta", {})
        present = [(k, v) for k, v in paint if meta.get(k)]
        if not present:
            continue
        labelled += 1
        ref_t = rec.get(image, rec.get(field))
        shape = ref_t.shape[-2:]
        want = np.zeros(shape, np.uint8)
        for k, v in present:
            want[reference_mask(meta[k], shape) != 0] = v
        got = rec.get(field)
        if got is None:
            print("%s: no %s tensor" % (rec["id"], field), file=sys.stderr)
            continue
        got = got.reshape(got.shape[-2:]) if got.ndim == 3 else got
        if classes:
            ndiff = int(np.count_nonzero(got != want))
        else:
            ndiff = int(np.count_nonzero((got != 0) != (want != 0)))
        if ndiff or got.shape != want.shape:
            print("%s: %d pixels differ from polygon2mask (%d vs %d set)"
                  % (rec["id"], ndiff, int(np.count_nonzero(got)),
                     int(want.sum())), file=sys.stderr)
        else:
            same += 1
    print("%d records, %d labelled, %d identical" % (len(recs), labelled, same))
    return 0 if labelled and same == labelled else 1


def main(argv):
    if len(argv) < 2 or argv[1] not in ("make", "check"):
        sys.exit(__doc__)
    if argv[1] == "make":
        make(argv[2:])
        return 0
    return check(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
