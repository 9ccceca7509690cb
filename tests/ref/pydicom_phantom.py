"""pydicom_phantom.py - check a tree written by `phantom` with pydicom (tests).

Usage: pydicom_phantom.py DIR CASES SLICES PHASES H W

Checks, independently of the project's C code:
  * link.csv: header "patient_id,original_id", one row per case;
  * dicoms/<id>/<N>.dcm for N = 1..SLICES*PHASES: Explicit VR Little
    Endian, MR, MONOCHROME2, 16 bits allocated/stored, signed, H x W,
    PixelSpacing, SliceThickness, SliceLocation, ImagePositionPatient (3),
    ImageOrientationPatient (6), TriggerTime, CardiacNumberOfImages = PHASES,
    WindowCenter/Width, PatientID = <id>, InstanceNumber = N, and a
    SOPInstanceUID that is a valid UID, unique over the tree;
  * pixel values in 0..32767 with the blood pool in the hundreds to ~2000;
  * contourfiles/<case>/i-contours: one per frame, o-contours on the even
    phases (half the frames); points inside the image; the blood pool (i-contour filled with
    skimage) 0.2% to 4% of the pixels, brighter than the myocardium (between
    the i- and o-contour), and inside the o-contour.
Prints "ok: ..." and exits 0, or prints each problem and exits 1.
"""
import os
import re
import sys

import numpy as np
import pydicom
from skimage.draw import polygon
from skimage.measure import points_in_poly

UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def main(d, cases, slices, phases, h, w):
    problems = []
    link = open(os.path.join(d, "link.csv")).read().splitlines()
    if link[0] != "patient_id,original_id" or len(link) != cases + 1:
        problems.append("link.csv: %r" % link[:3])
    uids = set()
    fractions = []
    for row in link[1:]:
        did, case = row.split(",")
        n_o = 0
        for n in range(1, slices * phases + 1):
            p = os.path.join(d, "dicoms", did, "%d.dcm" % n)
            ds = pydicom.dcmread(p)
            a = ds.pixel_array
            want = {
                "TransferSyntaxUID": ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1",
                "Modality": ds.Modality == "MR",
                "Photometric": ds.PhotometricInterpretation == "MONOCHROME2",
                "Bits": (ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation) == (16, 16, 1),
                "Size": (ds.Rows, ds.Columns) == (h, w) and a.shape == (h, w) and a.dtype == np.int16,
                "PixelSpacing": len(ds.PixelSpacing) == 2 and float(ds.PixelSpacing[0]) > 0,
                "SliceThickness": float(ds.SliceThickness) > 0,
                "SliceLocation": ds.get("SliceLocation") is not None,
                "Position": len(ds.ImagePositionPatient) == 3,
                "Orientation": len(ds.ImageOrientationPatient) == 6,
                "TriggerTime": float(ds.TriggerTime) >= 0,
                "CardiacNumberOfImages": int(ds.CardiacNumberOfImages) == phases,
                "Window": float(ds.WindowWidth) > 0 and float(ds.WindowCenter) > 0,
                "PatientID": ds.PatientID == did,
                "InstanceNumber": int(ds.InstanceNumber) == n,
                "SOPInstanceUID": bool(UID.match(ds.SOPInstanceUID)) and len(ds.SOPInstanceUID) <= 64
                and ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID,
                "Range": a.min() >= 0 and 300 <= a.max() <= 4000,
            }
            for k, ok in want.items():
                if not ok:
                    problems.append("%s: %s" % (p, k))
            uids.add(ds.SOPInstanceUID)
            cdir = os.path.join(d, "contourfiles", case)
            ic = np.loadtxt(os.path.join(cdir, "i-contours", "IM-0001-%04d-icontour-manual.txt" % n))
            if not (ic[:, 0].min() >= 0 and ic[:, 0].max() <= w - 1 and ic[:, 1].min() >= 0
                    and ic[:, 1].max() <= h - 1):
                problems.append("%s: i-contour outside the image" % p)
            blood = np.zeros((h, w), bool)
            rr, cc = polygon(ic[:, 1].astype(int), ic[:, 0].astype(int), (h, w))
            blood[rr, cc] = True
            fractions.append(blood.mean())
            of = os.path.join(cdir, "o-contours", "IM-0001-%04d-ocontour-manual.txt" % n)
            if os.path.exists(of):
                n_o += 1
                oc = np.loadtxt(of)
                if not points_in_poly(ic, oc).all():
                    problems.append("%s: i-contour not inside the o-contour" % p)
                epi = np.zeros((h, w), bool)
                rr, cc = polygon(oc[:, 1].astype(int), oc[:, 0].astype(int), (h, w))
                epi[rr, cc] = True
                inner = blood.copy()
                for _ in range(2):  # away from the blurred edge
                    inner[1:-1, 1:-1] &= inner[:-2, 1:-1] & inner[2:, 1:-1] & inner[1:-1, :-2] & inner[1:-1, 2:]
                ring = epi & ~blood
                ring[1:-1, 1:-1] &= ring[:-2, 1:-1] & ring[2:, 1:-1] & ring[1:-1, :-2] & ring[1:-1, 2:]
                if ring.any() and not a[inner].mean() > 1.8 * a[ring].mean():
                    problems.append("%s: blood %.0f not brighter than myocardium %.0f"
                                    % (p, a[inner].mean(), a[ring].mean()))
        if n_o != slices * ((phases + 1) // 2):  # even phases
            problems.append("%s: %d o-contours for %d frames" % (case, n_o, slices * phases))
        extra = set(os.listdir(os.path.join(d, "dicoms", did))) - {
            "%d.dcm" % n for n in range(1, slices * phases + 1)}
        if extra:
            problems.append("%s: unexpected files %s" % (did, sorted(extra)[:3]))
    if len(uids) != cases * slices * phases:
        problems.append("SOPInstanceUIDs not unique: %d for %d images" % (len(uids), cases * slices * phases))
    lo, hi = min(fractions), max(fractions)
    if not (0.002 <= lo and hi <= 0.04):
        problems.append("blood pool fraction %.4f..%.4f outside 0.2%%..4%%" % (lo, hi))
    for p in problems:
        print(p)
    if problems:
        return 1
    print("ok: %d images, blood pool %.2f%%..%.2f%% (median %.2f%%)" % (
        len(fractions), 100 * lo, 100 * hi, 100 * float(np.median(fractions))))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], *map(int, sys.argv[2:])))
