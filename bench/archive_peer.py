#!/usr/bin/env python3
"""archive_peer.py MODEL.onnx OUTDIR THREADS <FILES - what a Python user
would write for "DICOM archive to masks and a per-case report": for each
DICOM file named on stdin (one per line), pydicom.dcmread, pixel_array as
float32, ONNX Runtime (intra_op_num_threads THREADS) on the exported net
(bench/archive_export.py: the same weights and preprocessing as our model),
arg-max over the classes, the mask kept; then one OUTDIR/CASE.npy per case
(u8 frames x H x W, in input order) and a per-case TSV on stdout: case
frames phases slices lv_pixels edv_ml esv_ml ef_pct; on stderr the seconds
spent in ONNX Runtime alone ("net_s=S", the peer of fcn-predict on a
decoded stream).  The case is the
file's folder name; phase (InstanceNumber - 1) mod CardiacNumberOfImages;
slice height the median step of the slice positions (ImagePositionPatient
on the orientation's normal); volume per phase = blood pixels x pixel
spacing x height summed over slices; EDV/ESV the largest/smallest
non-zero phase volume (one slice: SliceThickness; simpler than lv-volume's pairing of slices).
Runs in the bench venv (onnxruntime, numpy); pydicom is taken from there
or else from Debian's /usr/lib/python3/dist-packages."""
import os
import sys
import time
from collections import defaultdict

import numpy as np
import onnxruntime as ort

try:
    import pydicom
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import pydicom


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model, outdir, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    masks = defaultdict(list)
    info = defaultdict(list)
    net_s = 0.0
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        ds = pydicom.dcmread(path)
        x = ds.pixel_array.astype(np.float32)[None, None]
        t0 = time.perf_counter()
        score = sess.run(None, {"data": x})[0]
        net_s += time.perf_counter() - t0
        mask = np.argmax(score[0], axis=0).astype(np.uint8)
        case = os.path.basename(os.path.dirname(path))
        masks[case].append(mask)
        o = np.array(ds.ImageOrientationPatient, dtype=float)
        normal = np.cross(o[:3], o[3:])
        pos = float(np.dot(np.array(ds.ImagePositionPatient, dtype=float), normal))
        phase = (int(ds.InstanceNumber) - 1) % int(ds.CardiacNumberOfImages)
        ps = [float(v) for v in ds.PixelSpacing]
        info[case].append((phase, round(pos, 3), ps[0] * ps[1], int(mask.sum()),
                           float(ds.SliceThickness)))
    print("net_s=%.3f" % net_s, file=sys.stderr)
    os.makedirs(outdir, exist_ok=True)
    print("case\tframes\tphases\tslices\tlv_pixels\tedv_ml\tesv_ml\tef_pct")
    for case in sorted(masks):
        np.save(os.path.join(outdir, case + ".npy"), np.stack(masks[case]))
        rows = info[case]
        slices = sorted({r[1] for r in rows})
        height = (float(np.median(np.diff(slices))) if len(slices) > 1
                  else rows[0][4])
        vol = defaultdict(float)
        for phase, pos, area, blood, thick in rows:
            vol[phase] += blood * area * height / 1000.0
        nz = [v for v in vol.values() if v > 0]
        edv, esv = (max(nz), min(nz)) if nz else (0.0, 0.0)
        ef = 100.0 * (edv - esv) / edv if edv > 0 else float("nan")
        print("%s\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f" % (
            case, len(rows), len(vol), len(slices), sum(r[3] for r in rows),
            edv, esv, ef))


if __name__ == "__main__":
    main()
