#!/usr/bin/python3
"""opencv_caffe.py PROTOTXT CAFFEMODEL IN OUT - run Caffe files in OpenCV's DNN.

Loads the pair with cv2.dnn.readNetFromCaffe (OpenCV's own Caffe importer,
independent of our reader and engine), feeds each record's 'image' of the
tensor stream IN as raw float32 values (1 x C x H x W, no scaling: the deploy
description does its own), and writes the records to OUT with 'prob' (f32
K x H x W, the net's last output) added.  Exits 1 with OpenCV's message when
the importer refuses the files.
"""
import sys

import cv2
import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from stream import read_stream, write_stream  # noqa: E402


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: opencv_caffe.py PROTOTXT CAFFEMODEL IN OUT")
    try:
        net = cv2.dnn.readNetFromCaffe(sys.argv[1], sys.argv[2])
    except cv2.error as e:
        sys.exit("opencv_caffe.py: readNetFromCaffe: %s" % str(e).strip())
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    recs = read_stream(sys.argv[3])
    for r in recs:
        im = r["image"].astype(np.float32)
        if im.ndim == 2:
            im = im[None]
        net.setInput(im[None])
        r["prob"] = np.ascontiguousarray(net.forward()[0], dtype=np.float32)
    write_stream(recs, sys.argv[4])


if __name__ == "__main__":
    main()
