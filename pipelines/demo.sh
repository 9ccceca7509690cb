#!/usr/bin/env bash
# demo.sh [DATA] - the main job on built-in data: for now a stream round trip
# (a Python-written stream through tensor-cat, described by tensor-info).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="${BIN:-$root/bin}:$PATH"
py=${PYTHON:-/usr/bin/python3}
out=${OUT:-$root/build/demo}
mkdir -p "$out/doc"
"$root/tests/ref/docpy.sh" "$root/docs/stream-format.md" 1 >"$out/doc/stream_format.py"
PYTHONPATH="$out/doc" "$py" -c '
import sys, numpy as np
from stream_format import write_record
for k in range(3):
    write_record(sys.stdout.buffer, {"id": "demo/%d" % k,
        "image": np.full((1, 4, 4), k, np.int16), "meta": {"case": "demo"}})
' | tensor-cat >"$out/demo.ts"
tensor-info "$out/demo.ts"
