"""pydicom_hostile.py - hostile DICOM files for tests/hostile.bats.

Usage: pydicom_hostile.py OUT KIND
  huge    Explicit VR LE MR image claiming 65535x65535 pixels x 1000 frames
          (16-bit: 8 TiB) with 64 bytes of pixel data
  biglen  a valid small image, then a private element declaring a 4 GiB
          value the file does not hold
  metaimplicit  a 64x64 image whose file meta header GDCM reads as implicit
          VR (the first element's VR bytes are no VR): (0002,0000) then
          declares 268435460 bytes (a 16-bit length of 4096 if read as
          explicit VR)
"""
import struct
import sys

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian


def image(rows, cols, frames, pixels):
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    fm.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = fm
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SOPClassUID = fm.MediaStorageSOPClassUID
    ds.SOPInstanceUID = fm.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.Rows, ds.Columns = rows, cols
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    ds.PixelData = pixels
    return ds


def main():
    out, kind = sys.argv[1], sys.argv[2]
    if kind == "huge":
        image(65535, 65535, 1000, b"\0" * 64).save_as(out, write_like_original=False)
    elif kind == "biglen":
        ds = image(4, 4, 1, b"\1\0" * 16)
        ds.save_as(out, write_like_original=False)
        # raw bytes in tag order: (0009,1000) UN, length 0xfffffff0,
        # then only 8 bytes of it
        data = open(out, "rb").read()
        at = data.index(struct.pack("<HH", 0x0028, 0x0002))  # Samples per Pixel
        elem = struct.pack("<HH2sHI", 0x0009, 0x1000, b"UN", 0, 0xFFFFFFF0) + b"x" * 8
        open(out, "wb").write(data[:at] + elem + data[at:])
    elif kind == "metaimplicit":
        image(64, 64, 1, b"\0\0" * 4096).save_as(out, write_like_original=False)
        data = bytearray(open(out, "rb").read())
        assert data[132:138] == b"\2\0\0\0UL"
        data[136:140] = struct.pack("<I", 0x10000004)
        open(out, "wb").write(data)
    else:
        sys.exit("unknown kind " + kind)


if __name__ == "__main__":
    main()
