"""pydicom_compare.py - check dcm2tensor's stream against pydicom (tests only).

Usage: pydicom_compare.py [--float] [--stderr FILE] STREAM DICOM...

STREAM is what `dcm2tensor [--float] DICOM...` wrote; --stderr names the file
holding its stderr.  For every DICOM file:
  * pydicom decodes it with its own handlers only (numpy and RLE, no
    plugins): the stream must hold one record per frame (meta "source" is the
    path) with identical values: shape (C, H, W) = pixel_array's (H, W, C)
    transposed, dtype u8 for uint8, i16 for int8/int16, u16, i32 for 32-bit
    (unsigned 32-bit values above the i32 range cannot be represented: then
    no record and an error line is expected); with --float, the values are
    pixel_array * RescaleSlope + RescaleIntercept as f32.  Meta rows,
    columns, patient_id, sop_instance_uid, instance_number, pixel_spacing,
    window_center must agree with pydicom's when present.
  * pydicom cannot decode it: dcm2tensor may decode it (GDCM has more codecs)
    or not; when it wrote no record, stderr must hold one line
    "dcm2tensor: PATH: ...".
Prints one line per file and a summary; exits 1 when any file fails.
"""
import os
import sys
import warnings

import numpy as np
import pydicom
from pydicom.pixel_data_handlers import numpy_handler, rle_handler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stream import read_stream  # noqa: E402

warnings.simplefilter("ignore")
pydicom.config.pixel_data_handlers = [numpy_handler, rle_handler]

STREAM_DTYPE = {("u", 1): "u8", ("i", 1): "i16", ("u", 2): "u16",
                ("i", 2): "i16", ("u", 4): "i32", ("i", 4): "i32"}


def reference(path):
    """(frames array (F, C, H, W), dataset) or (None, reason)."""
    try:
        ds = pydicom.dcmread(path)
        a = ds.pixel_array
    except Exception as e:  # pydicom's many ways of saying no
        return None, "%s: %s" % (type(e).__name__, str(e)[:60])
    nf = int(ds.get("NumberOfFrames", 1) or 1)
    spp = int(ds.get("SamplesPerPixel", 1))
    a = a.reshape(nf, ds.Rows, ds.Columns, spp).transpose(0, 3, 1, 2)
    return a, ds


def check_meta(rec, ds):
    m = rec["meta"]
    want = {"rows": int(ds.Rows), "columns": int(ds.Columns)}
    for key, kw in (("patient_id", "PatientID"),
                    ("sop_instance_uid", "SOPInstanceUID")):
        if ds.get(kw):
            want[key] = str(ds.get(kw)).strip()
    if ds.get("InstanceNumber") is not None and str(ds.InstanceNumber):
        want["instance_number"] = int(ds.InstanceNumber)
    for key, kw in (("pixel_spacing", "PixelSpacing"),
                    ("window_center", "WindowCenter")):
        v = ds.get(kw)
        if v is not None and str(v) != "":
            vals = [float(x) for x in (v if isinstance(v, (list, pydicom.multival.MultiValue)) else [v])]
            got = m.get(key)
            got = got if isinstance(got, list) else [got]
            if got is None or not np.allclose(got, vals):
                return "meta %s %r, pydicom %r" % (key, m.get(key), vals)
    for k, v in want.items():
        if m.get(k) != v:
            return "meta %s %r, pydicom %r" % (k, m.get(k), v)
    return None


def compare(path, recs, errs, to_float):
    ref, ds = reference(path)
    if ref is None:
        if recs:
            return "ok", "decoded by GDCM only (%s; pydicom: %s)" % (
                recs[0]["image"].shape, ds)
        if not any(l.startswith("dcm2tensor: %s: " % path) for l in errs):
            return "FAIL", "no record and no error line"
        return "ok", "both refuse (pydicom: %s)" % ds
    nf = ref.shape[0]
    if not to_float and ref.dtype.kind == "u" and ref.dtype.itemsize == 4 \
            and ref.max() > 2**31 - 1:
        if recs:
            return "FAIL", "u32 above the i32 range written"
        if not any(l.startswith("dcm2tensor: %s: " % path) for l in errs):
            return "FAIL", "u32 file refused without an error line"
        return "ok", "u32 above i32 range refused, as documented"
    if len(recs) != nf:
        return "FAIL", "%d records for %d frames" % (len(recs), nf)
    for f, rec in enumerate(recs):
        img = rec["image"]
        if to_float:
            slope = float(ds.get("RescaleSlope", 1) or 1)
            icpt = float(ds.get("RescaleIntercept", 0) or 0)
            want = (ref[f].astype(np.float64) * slope + icpt).astype(np.float32)
            if img.dtype != np.float32:
                return "FAIL", "dtype %s, want f32" % img.dtype
        else:
            want = ref[f]
            key = STREAM_DTYPE[(want.dtype.kind, want.dtype.itemsize)]
            names = {"u8": "uint8", "i16": "int16", "u16": "uint16",
                     "i32": "int32"}
            if img.dtype != np.dtype(names[key]):
                return "FAIL", "dtype %s, want %s" % (img.dtype, key)
        if img.shape != want.shape:
            return "FAIL", "shape %s, pydicom %s" % (img.shape, want.shape)
        if not np.array_equal(img.astype(np.float64), want.astype(np.float64)):
            d = np.abs(img.astype(np.float64) - want.astype(np.float64))
            return "FAIL", "frame %d: %d values differ (max %g)" % (
                f + 1, int((d > 0).sum()), d.max())
        why = check_meta(rec, ds)
        if why:
            return "FAIL", why
    return "ok", "identical (%d frame%s, %s)" % (
        nf, "s" if nf > 1 else "", "x".join(map(str, ref.shape[1:])))


def main(argv):
    to_float = False
    errfile = None
    while argv and argv[0].startswith("--"):
        if argv[0] == "--float":
            to_float = True
            argv = argv[1:]
        elif argv[0] == "--stderr":
            errfile, argv = argv[1], argv[2:]
        else:
            sys.exit("pydicom_compare.py: unknown option %s" % argv[0])
    if len(argv) < 2:
        sys.exit(__doc__)
    stream, files = argv[0], argv[1:]
    by_source = {}
    for rec in read_stream(stream):
        by_source.setdefault(rec["meta"]["source"], []).append(rec)
    errs = open(errfile).read().splitlines() if errfile else []
    bad = same = 0
    for path in files:
        status, why = compare(path, by_source.get(path, []), errs, to_float)
        print("%s %s: %s" % (status, path, why))
        bad += status != "ok"
        same += why.startswith("identical")
    print("# %d files, %d identical to pydicom, %d failed" % (
        len(files), same, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
