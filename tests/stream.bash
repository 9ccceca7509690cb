# stream.bash - sourced by .bats files that make streams in Python: puts the
# Python reader/writer from docs/stream-format.md into $BATS_TEST_TMPDIR/doc
# as the module stream_format, and offers mkstream.
setup_stream_py() {
	mkdir -p "$BATS_TEST_TMPDIR/doc"
	"$ROOT/tests/ref/docpy.sh" "$ROOT/docs/stream-format.md" 1 \
		>"$BATS_TEST_TMPDIR/doc/stream_format.py"
	export PYTHONPATH="$BATS_TEST_TMPDIR/doc"
}

# mkstream N [H W]: N records with i16 images (1xHxW) and u8 labels, ids
# c<k%2>/<k>, meta case=c<k%2> and an opaque field, on stdout.
mkstream() {
	"$PYTHON" - "$@" <<'PY'
import sys, numpy as np
from stream_format import write_record
n = int(sys.argv[1]); h = int(sys.argv[2]) if len(sys.argv) > 2 else 8
w = int(sys.argv[3]) if len(sys.argv) > 3 else h
rng = np.random.default_rng(1)
for k in range(n):
    img = rng.integers(-300, 2000, size=(1, h, w)).astype(np.int16)
    lab = (rng.random((1, h, w)) < 0.1).astype(np.uint8)
    write_record(sys.stdout.buffer, {"id": "c%d/%d" % (k % 2, k), "image": img,
                 "label": lab, "meta": {"case": "c%d" % (k % 2), "k": k,
                 "spacing": [1.5, 1.5]}, "extra": {"any": [1, "two", None]}})
PY
}
