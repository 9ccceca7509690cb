"""pydicom_seg.py - check mask2dcm's SEG files against the stream and the
source images with pydicom and NumPy (tests only).

Usage: pydicom_seg.py [--field NAME] [--class N] [--root DIR] STREAM SEG...

STREAM is what mask2dcm read; the SEGs are what it wrote.  Records are grouped
by their source's Series Instance UID (read with pydicom from meta "source",
relative to --root); every group must be exactly one SEG and:
  * the SEG is a binary Segmentation (SOP class, modality, 1-bit pixels,
    one segment with SCT codes 91723000 / 87878005);
  * its frames, unpacked from Pixel Data here with numpy (first pixel in
    the lowest bit, frames back to back) and by pydicom's pixel_array,
    equal the records' masks (tensor == N) in stream order;
  * patient, study, frame of reference come from the source; the
    Referenced Series Sequence lists exactly the sources; frame k's Source
    Image Sequence names source k (SOP class and instance) and its plane
    position, orientation and pixel spacing are the source's.
Prints "N files, M frames, all match" or the first mismatch (exit 1).
"""
import os
import sys

import numpy as np
import pydicom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stream import read_stream  # noqa: E402

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def fail(msg):
    print("mismatch: " + msg)
    sys.exit(1)


def nums(v):
    return [float(x) for x in (v if isinstance(v, (list, pydicom.multival.MultiValue)) else [v])]


def frame_group(seg, k, name):
    """The functional group macro `name` of frame k, per-frame or shared."""
    pf = seg.PerFrameFunctionalGroupsSequence[k]
    if name in pf:
        return getattr(pf, name)[0]
    return getattr(seg.SharedFunctionalGroupsSequence[0], name)[0]


def check(stream, segs, field, cls, root):
    groups = {}
    for r in read_stream(stream):
        path = r["meta"]["source"]
        src = pydicom.dcmread(os.path.join(root, path), stop_before_pixels=True)
        mask = np.asarray(r[field]).reshape(int(src.Rows), int(src.Columns))
        groups.setdefault(src.SeriesInstanceUID, []).append((src, mask == cls))
    by_series = {}
    for p in segs:
        seg = pydicom.dcmread(p)
        uid = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
        if uid in by_series:
            fail("two SEGs for series %s" % uid)
        by_series[uid] = (p, seg)
    if set(by_series) != set(groups):
        fail("SEG series %s, stream series %s" % (sorted(by_series), sorted(groups)))
    frames = 0
    for uid, items in groups.items():
        p, seg = by_series[uid]
        first = items[0][0]
        if seg.SOPClassUID != SEG_CLASS or seg.file_meta.MediaStorageSOPClassUID != SEG_CLASS:
            fail("%s: SOP class %s" % (p, seg.SOPClassUID))
        if seg.Modality != "SEG" or seg.SegmentationType != "BINARY":
            fail("%s: modality %s, type %s" % (p, seg.Modality, seg.SegmentationType))
        if (seg.BitsAllocated, seg.BitsStored, seg.SamplesPerPixel) != (1, 1, 1):
            fail("%s: not 1-bit" % p)
        sg = seg.SegmentSequence
        if len(sg) != 1 or sg[0].SegmentNumber != 1:
            fail("%s: segments" % p)
        cat = sg[0].SegmentedPropertyCategoryCodeSequence[0]
        typ = sg[0].SegmentedPropertyTypeCodeSequence[0]
        if (cat.CodeValue, cat.CodingSchemeDesignator) != ("91723000", "SCT") or \
           (typ.CodeValue, typ.CodingSchemeDesignator) != ("87878005", "SCT"):
            fail("%s: codes %s %s" % (p, cat.CodeValue, typ.CodeValue))
        for kw in ("PatientID", "PatientName", "StudyInstanceUID", "FrameOfReferenceUID"):
            if str(seg.get(kw, "")) != str(first.get(kw, "")):
                fail("%s: %s %s, source %s" % (p, kw, seg.get(kw), first.get(kw)))
        if seg.SeriesInstanceUID == first.SeriesInstanceUID:
            fail("%s: the SEG reuses the source's series UID" % p)
        n = len(items)
        if int(seg.NumberOfFrames) != n or len(seg.PerFrameFunctionalGroupsSequence) != n:
            fail("%s: %s frames, %d records" % (p, seg.NumberOfFrames, n))
        refs = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
        if sorted(x.ReferencedSOPInstanceUID for x in refs) != \
           sorted(s.SOPInstanceUID for s, _ in items):
            fail("%s: Referenced Instance Sequence" % p)
        h, w = int(seg.Rows), int(seg.Columns)
        raw = np.frombuffer(seg.PixelData, dtype=np.uint8)
        bits = np.unpackbits(raw, bitorder="little")[: n * h * w].reshape(n, h, w)
        pa = seg.pixel_array.reshape(n, h, w)
        for k, (src, mask) in enumerate(items):
            if not np.array_equal(bits[k], mask) or not np.array_equal(pa[k], mask):
                fail("%s: frame %d differs from record mask (%d vs %d pixels)"
                     % (p, k + 1, int(bits[k].sum()), int(mask.sum())))
            der = seg.PerFrameFunctionalGroupsSequence[k].DerivationImageSequence[0]
            si = der.SourceImageSequence[0]
            if si.ReferencedSOPInstanceUID != src.SOPInstanceUID or \
               si.ReferencedSOPClassUID != src.SOPClassUID:
                fail("%s: frame %d source %s" % (p, k + 1, si.ReferencedSOPInstanceUID))
            pos = frame_group(seg, k, "PlanePositionSequence").ImagePositionPatient
            ori = frame_group(seg, k, "PlaneOrientationSequence").ImageOrientationPatient
            spc = frame_group(seg, k, "PixelMeasuresSequence").PixelSpacing
            if not (np.allclose(nums(pos), nums(src.ImagePositionPatient)) and
                    np.allclose(nums(ori), nums(src.ImageOrientationPatient)) and
                    np.allclose(nums(spc), nums(src.PixelSpacing))):
                fail("%s: frame %d geometry" % (p, k + 1))
        frames += n
    print("%d files, %d frames, all match" % (len(segs), frames))


def main(argv):
    field, cls, root = "pred", 1, "."
    while argv and argv[0].startswith("--"):
        opt = argv.pop(0)
        if opt == "--field":
            field = argv.pop(0)
        elif opt == "--class":
            cls = int(argv.pop(0))
        elif opt == "--root":
            root = argv.pop(0)
        else:
            sys.exit("unknown option " + opt)
    if len(argv) < 2:
        sys.exit(__doc__)
    check(argv[0], argv[1:], field, cls, root)


if __name__ == "__main__":
    main(sys.argv[1:])
