#!/usr/bin/python3
"""caffemodel.py FILE - an independent reader of Caffe's .caffemodel (tests only).

A minimal protobuf wire-format decoder written from the format's
specification and caffe.proto's field numbers (NetParameter: name 1, V1
layers 2, layer 100; LayerParameter: name 1, type 2, blobs 7;
V1LayerParameter: name 4, blobs 6; BlobProto: num/channels/height/width 1-4,
data 5, shape 7, double_data 8; BlobShape: dim 1), sharing no code with
libfcn/caffemodel.c.  read_caffemodel(path) -> {layer name: [numpy array,
...]} with each blob in its stored shape.  As a script: one line per blob.
"""
import struct
import sys

import numpy as np


def _varint(b, i):
    x = s = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return x, i


def _fields(b):
    """Yields (field, wire type, value) of one message; LEN values as bytes."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield f, wt, v


def _blob(b):
    shape, legacy, data = None, [0, 0, 0, 0], []
    for f, wt, v in _fields(b):
        if f == 7:
            shape = []
            for g, gwt, d in _fields(v):
                if g == 1 and gwt == 2:
                    j = 0
                    while j < len(d):
                        x, j = _varint(d, j)
                        shape.append(x)
                elif g == 1:
                    shape.append(d)
        elif 1 <= f <= 4 and wt == 0:
            legacy[f - 1] = v
        elif f == 5:
            data.extend(struct.unpack("<%df" % (len(v) // 4), v))
        elif f == 8:
            data.extend(struct.unpack("<%dd" % (len(v) // 8), v))
    if shape is None:
        shape = legacy
    return np.array(data, dtype=np.float32).reshape(shape)


def read_caffemodel(path):
    with open(path, "rb") as fh:
        buf = fh.read()
    out = {}
    for f, wt, v in _fields(buf):
        if f not in (2, 100) or wt != 2:
            continue
        fname, fblobs = (4, 6) if f == 2 else (1, 7)
        name, blobs = "", []
        for g, gwt, d in _fields(v):
            if g == fname and gwt == 2:
                name = d.decode()
            elif g == fblobs and gwt == 2:
                blobs.append(_blob(d))
        out[name] = blobs
    return out


if __name__ == "__main__":
    for name, blobs in read_caffemodel(sys.argv[1]).items():
        for i, b in enumerate(blobs):
            print(name, i, "x".join(map(str, b.shape)))
