"""dcm2tensor_pydicom.py REPEAT < FILES - pydicom's side of bench/dcm2tensor.sh:
dcmread + pixel_array of every file named on stdin (one path a line), REPEAT
times; prints the best files/s.  The pixels are touched (summed) so that
nothing is left undone lazily."""
import sys
import time

import pydicom

files = sys.stdin.read().split("\n")
files = [f for f in files if f]
best = None
for _ in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    for f in files:
        int(pydicom.dcmread(f).pixel_array.sum())
    dt = time.perf_counter() - t0
    best = dt if best is None or dt < best else best
print("%.1f" % (len(files) / best))
