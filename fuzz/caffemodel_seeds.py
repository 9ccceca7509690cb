#!/usr/bin/python3
"""caffemodel_seeds.py DIR - seed .caffemodel files for fuzz_caffemodel, in
the protobuf wire format written by hand from caffe.proto's field numbers:
one V2 file whose layers fit the harness's net (conv1, bn1, sc1, ip1 as an
InnerProduct for fc6 (net surgery), up), its blobs with `shape` and packed
data, and one legacy V1 file (`layers`, num/channels/height/width, unpacked
data, a double_data blob)."""
import os
import struct
import sys


def varint(x):
    out = bytearray()
    while True:
        b = x & 0x7F
        x >>= 7
        out.append(b | (0x80 if x else 0))
        if not x:
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def ld(field, payload):
    return key(field, 2) + varint(len(payload)) + payload


def blob_v2(dims, fill=0.5):
    n = 1
    for d in dims:
        n *= d
    shape = ld(1, b"".join(varint(d) for d in dims))        # packed dims
    data = ld(5, struct.pack("<%df" % n, *[fill + 0.01 * i for i in range(n)]))
    return ld(7, shape) + data


def blob_legacy(num, ch, h, w, double=False):
    n = num * ch * h * w
    out = key(1, 0) + varint(num) + key(2, 0) + varint(ch) + key(3, 0) + varint(h) + key(4, 0) + varint(w)
    if double:
        out += ld(8, struct.pack("<%dd" % n, *[0.25] * n))
    else:
        out += b"".join(key(5, 5) + struct.pack("<f", 0.1 * i) for i in range(n))
    return out


def layer_v2(name, typ, blobs):
    return ld(100, ld(1, name.encode()) + ld(2, typ.encode()) + b"".join(ld(7, b) for b in blobs))


def layer_v1(name, enum, blobs):
    return ld(2, ld(4, name.encode()) + key(5, 0) + varint(enum) + b"".join(ld(6, b) for b in blobs))


def main(d):
    os.makedirs(d, exist_ok=True)
    v2 = ld(1, b"fuzz") + b"".join([
        layer_v2("conv1", "Convolution", [blob_v2([4, 1, 3, 3]), blob_v2([4])]),
        layer_v2("bn1", "BatchNorm", [blob_v2([4]), blob_v2([4], 1.0), blob_v2([1], 1.0)]),
        layer_v2("sc1", "Scale", [blob_v2([4], 1.0), blob_v2([4], 0.0)]),
        layer_v2("ip1", "InnerProduct", [blob_v2([3, 16]), blob_v2([3])]),
        layer_v2("up", "Deconvolution", [blob_v2([3, 3, 2, 2])]),
    ])
    with open(os.path.join(d, "v2.caffemodel"), "wb") as f:
        f.write(v2)
    # V1 enums: CONVOLUTION 4, INNER_PRODUCT 14
    v1 = ld(1, b"legacy") + layer_v1("conv1", 4, [blob_legacy(4, 1, 3, 3), blob_legacy(1, 1, 1, 4, True)]) + \
        layer_v1("ip1", 14, [blob_legacy(1, 1, 3, 16), blob_legacy(1, 1, 1, 3)])
    with open(os.path.join(d, "v1.caffemodel"), "wb") as f:
        f.write(v1)


if __name__ == "__main__":
    main(sys.argv[1])
