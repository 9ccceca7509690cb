#!/usr/bin/env bats
# tensor2png: PNG pictures of records, read back with PIL.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	export PYTHONPATH="$ROOT/tests/ref"
}

# mkpics: two records: "A/x" with window meta, label and pred; "B/y" with a
# label only and no window meta.  Images i16 1x8x10, values 0..790.
mkpics() {
	"$PYTHON" - <<'PY'
import numpy as np, stream
img = (np.arange(80, dtype=np.int16) * 10).reshape(1, 8, 10)
lab = np.zeros((1, 8, 10), np.uint8); lab[0, 2:6, 2:7] = 1
pred = np.zeros((1, 8, 10), np.uint8); pred[0, 3:8, 4:10] = 1
stream.write_stream([
    {"id": "A/x", "image": img, "label": lab, "pred": pred,
     "meta": {"window_center": 300.0, "window_width": 401.0}},
    {"id": "B/y", "image": img, "label": lab}], "-")
PY
}

# The picture tensor2png should draw, computed independently in numpy.
EXPECT='
import numpy as np
def window(x, c, w):
    y = np.floor(((x - (c - 0.5)) / (w - 1) + 0.5) * 255 + 0.5)
    y[x <= c - 0.5 - (w - 1) / 2] = 0
    y[x > c - 0.5 + (w - 1) / 2] = 255
    return y.astype(np.uint8)
def edge(m):
    p = np.pad(m, 1, constant_values=255)
    inner = ((p[:-2, 1:-1] == m) & (p[2:, 1:-1] == m) &
             (p[1:-1, :-2] == m) & (p[1:-1, 2:] == m))
    return (m != 0) & ~inner
def picture(img, c, w, label=None, pred=None):
    g = window(img.astype(float), c, w)
    rgb = np.stack([g, g, g], -1)
    if label is not None: rgb[edge(label)] = (0, 255, 0)
    if pred is not None: rgb[edge(pred)] = (255, 0, 0)
    return rgb
'

@test "tensor2png --help documents every option on stdout" {
	run_split tensor2png --help
	assert_success
	assert_equal "$stderr" ""
	for opt in --output --subdirs --image --label --pred --window --field --depth --scale --help "default meta" "default image"; do
		assert_output --partial -- "$opt"
	done
}

@test "tensor2png: bad options are usage errors (exit 2, empty stdout)" {
	assert_usage_error tensor2png
	assert_usage_error tensor2png -o out --bogus
	assert_usage_error tensor2png -o out --window middle
	assert_usage_error tensor2png -o out --window 100,0
	assert_usage_error tensor2png -o out --field label --depth 12
	assert_usage_error tensor2png -o out --depth 16
	assert_usage_error tensor2png -o out --field label --scale x
	[ ! -e out ]
}

@test "tensor2png: windowed RGB with label in green and pred in red" {
	mkpics >in.ts
	run_split tensor2png -o out in.ts
	assert_success
	assert_equal "$output" "out/A_x.png
out/B_y.png"
	assert_equal "$stderr" ""
	run "$PYTHON" -c "$EXPECT"'
from PIL import Image
import stream
recs = stream.read_stream("in.ts")
a = np.array(Image.open("out/A_x.png"))
r = recs[0]
want = picture(r["image"][0], 300.0, 401.0, r["label"][0], r["pred"][0])
assert open("out/A_x.png", "rb").read()[24:26] == bytes([8, 2])  # 8-bit RGB
assert a.shape == (8, 10, 3)
assert (a == want).all(), (a[..., 0], want[..., 0])
print((a == (0, 255, 0)).all(-1).sum(), (a == (255, 0, 0)).all(-1).sum())'
	assert_success
	# label outline 14 pixels, pred outline 18 (it meets the image border),
	# 2 of them over the label outline
	assert_output "12 18"
}

@test "tensor2png: without window meta the 1st..99th percentiles span 0..255" {
	mkpics >in.ts
	tensor2png -o out in.ts >/dev/null
	run "$PYTHON" -c "$EXPECT"'
from PIL import Image
import stream
img = stream.read_stream("in.ts")[1]["image"][0]
v = np.sort(img.ravel()); n = v.size
lo, hi = v[int(round(0.01 * (n - 1)))], v[int(round(0.99 * (n - 1)))]
a = np.array(Image.open("out/B_y.png"))
g = a[..., 2]
assert g[img <= lo].max() == 0 and g[img >= hi].min() == 255
w = hi - lo + 1
want = picture(img, lo + 0.5 + (w - 1) / 2, w, stream.read_stream("in.ts")[1]["label"][0])
assert (a == want).all()
print(lo, hi)'
	assert_success
	assert_output "10 780"
}

@test "tensor2png --window C,W overrides the meta window; --window percentile ignores it" {
	mkpics >in.ts
	tensor2png -o fixed --window 100,51 in.ts >/dev/null
	tensor2png -o pct --window percentile in.ts >/dev/null
	run "$PYTHON" -c "$EXPECT"'
from PIL import Image
import stream
r = stream.read_stream("in.ts")[0]
a = np.array(Image.open("fixed/A_x.png"))
assert (a == picture(r["image"][0], 100, 51, r["label"][0], r["pred"][0])).all()
img = r["image"][0]
v = np.sort(img.ravel()); n = v.size
lo, hi = v[int(round(0.01 * (n - 1)))], v[int(round(0.99 * (n - 1)))]
w = hi - lo + 1
b = np.array(Image.open("pct/A_x.png"))
assert (b == picture(img, lo + 0.5 + (w - 1) / 2, w, r["label"][0], r["pred"][0])).all()
print("ok")'
	assert_output ok
}

@test "tensor2png --field: plain 8- and 16-bit grayscale, values exact" {
	mkpics >in.ts
	tensor2png -o lab --field label in.ts >/dev/null
	tensor2png -o img --field image in.ts >/dev/null
	tensor2png -o img8 --field image --scale 0.25 --depth 8 in.ts >/dev/null
	run "$PYTHON" -c '
from PIL import Image
import numpy as np, stream
r = stream.read_stream("in.ts")[0]
l = Image.open("lab/A_x.png"); i = Image.open("img/A_x.png"); j = Image.open("img8/A_x.png")
assert (np.array(l) == r["label"][0]).all()
assert (np.array(i) == r["image"][0]).all()
assert (np.array(j) == np.floor(r["image"][0] * 0.25 + 0.5)).all()
# IHDR: bit depth and colour type (0: gray)
print(" ".join("%d/%d" % tuple(open(f, "rb").read()[24:26])
               for f in ("lab/A_x.png", "img/A_x.png", "img8/A_x.png")))'
	assert_success
	assert_output "8/0 16/0 8/0"
}

@test "tensor2png --field: a value that does not fit is an error, not clipped" {
	mkpics >in.ts
	run_split tensor2png -o o --field image --depth 8 in.ts
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "tensor2png: in.ts: record 1 (A/x): image: value 260 at 26 does not fit 8 bits (see --scale, --depth)"
	run_split tensor2png -o o --field nosuch in.ts
	assert_failure 1
	assert_equal "$stderr" "tensor2png: in.ts: record 1 (A/x): no nosuch tensor of at least 2 dimensions"
}

@test "tensor2png --subdirs: id folders become subdirectories" {
	mkpics >in.ts
	run_split tensor2png --subdirs -o out in.ts
	assert_success
	assert_equal "$output" "out/A/x.png
out/B/y.png"
	[ -f out/A/x.png ] && [ -f out/B/y.png ]
	"$PYTHON" -c '
import stream, numpy as np
stream.write_stream([{"id": "a/../../evil", "image": np.zeros((1, 2, 2), np.int16)}], "-")' >evil.ts
	run_split tensor2png --subdirs -o out evil.ts
	assert_failure 1
	assert_equal "$stderr" "tensor2png: evil.ts: record 1 (a/../../evil): id cannot be a path under out"
}

@test "tensor2png: stdin and file give the same bytes; reruns are identical" {
	mkpics >in.ts
	tensor2png -o a in.ts >/dev/null
	tensor2png -o b <in.ts >/dev/null
	tensor2png -o a2 - <in.ts >/dev/null
	cmp a/A_x.png b/A_x.png
	cmp a/B_y.png b/B_y.png
	cmp a/A_x.png a2/A_x.png
}

@test "tensor2png: truncated and garbage input: error, earlier PNGs whole, no temp files" {
	mkpics >in.ts
	head -c -9 in.ts >trunc.ts
	run_split tensor2png -o out trunc.ts
	assert_failure 1
	assert_equal "$output" "out/A_x.png"
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "tensor2png: trunc.ts: "* ]] || fail "stderr: $stderr"
	"$PYTHON" -c 'from PIL import Image; Image.open("out/A_x.png").load()'
	assert_equal "$(ls out)" "A_x.png"
	printf 'not a stream' | {
		run_split tensor2png -o g
		assert_failure 1
		[[ $stderr == "tensor2png: "* ]] || fail "stderr: $stderr"
	}
}

@test "tensor2png: a mask of another shape or a record without image is an error" {
	"$PYTHON" -c '
import stream, numpy as np
stream.write_stream([{"id": "m", "image": np.zeros((1, 4, 4), np.int16),
                      "label": np.zeros((1, 4, 5), np.uint8)}], "-")' >bad.ts
	run_split tensor2png -o out bad.ts
	assert_failure 1
	assert_equal "$stderr" "tensor2png: bad.ts: record 1 (m): label: shape 1x4x5 does not match the 4x4 image"
	[ -z "$(ls out)" ]
	"$PYTHON" -c '
import stream, numpy as np
stream.write_stream([{"id": "n", "label": np.zeros((1, 4, 5), np.uint8)}], "-")' >noimg.ts
	run_split tensor2png -o out noimg.ts
	assert_failure 1
	assert_equal "$stderr" "tensor2png: noimg.ts: record 1 (n): no image tensor of at least 2 dimensions"
}

@test "tensor2png: a record error names its file and its number across inputs" {
	mkpics >in.ts
	"$PYTHON" -c '
import stream, numpy as np
stream.write_stream([{"id": "ok", "image": np.zeros((1, 2, 2), np.int16)},
                     {"id": "q/1", "label": np.zeros((1, 2, 2), np.uint8)}], "-")' >noimg.ts
	run_split tensor2png -o out in.ts noimg.ts
	assert_failure 1
	assert_equal "$stderr" "tensor2png: noimg.ts: record 4 (q/1): no image tensor of at least 2 dimensions"
	assert_equal "$output" "out/A_x.png
out/B_y.png
out/ok.png"
	mkdir o2 && touch o2/B
	tensor-cat -n 1 noimg.ts >one.ts
	run_split tensor2png --subdirs -o o2 one.ts in.ts
	assert_failure 1
	assert_equal "$stderr" "tensor2png: in.ts: record 3 (B/y): o2/B: cannot make folder: File exists"
	mkdir ro && chmod a-w ro
	if [ ! -w ro ]; then
		run_split tensor2png -o ro in.ts
		assert_failure 1
		assert_equal "$stderr" "tensor2png: in.ts: record 1 (A/x): ro/A_x.png: Permission denied"
	fi
}

@test "tensor2png: float scores as pred are drawn from their argmax" {
	"$PYTHON" -c '
import stream, numpy as np
s = np.zeros((2, 6, 6), np.float32); s[0] = 1; s[1, 1:5, 1:5] = 2
stream.write_stream([{"id": "s", "image": np.zeros((1, 6, 6), np.int16), "pred": s}], "-")' >s.ts
	tensor2png -o out --window 0,10 s.ts >/dev/null
	run "$PYTHON" -c '
from PIL import Image
import numpy as np
a = np.array(Image.open("out/s.png"))
print("".join("r" if tuple(p) == (255, 0, 0) else "." for p in a[2]), (a == (255, 0, 0)).all(-1).sum())'
	assert_output ".r..r. 12"
}

@test "tensor2png: one PNG per record of a phantom dataset" {
	phantom -o ph --cases 2 --size 64x64 --slices 1 --phases 3 --seed 4 2>/dev/null
	sunnybrook-index ph | dcm2tensor --list - | contour2mask >ph.ts
	run_split tensor2png -o pics ph.ts
	assert_success
	assert_equal "${#lines[@]}" 6
	assert_equal "$(ls pics | wc -l)" 6
	run "$PYTHON" -c "$EXPECT"'
from PIL import Image
import glob, stream
recs = stream.read_stream("ph.ts")
for r in recs:
    f = "pics/" + r["id"].replace("/", "_") + ".png"
    a = np.array(Image.open(f))
    assert a.shape == (64, 64, 3), a.shape
    assert (a == (0, 255, 0)).all(-1).sum() > 8, f
    m = r["meta"]
    want = picture(r["image"][0], m["window_center"], m["window_width"], r["label"][0])
    assert (a == want).all(), f
print(len(recs))'
	assert_output 6
}

@test "tensor2png: the example in docs/tensor2png.md runs as written" {
	"$ROOT/tests/ref/docpy.sh" "$ROOT/docs/tensor2png.md" 1 >ex.sh
	run_split bash -e ex.sh
	assert_success
	assert_equal "$(ls pics)" "PH-1_IM-0001-0001.png
PH-1_IM-0001-0002.png"
	run "$PYTHON" -c '
from PIL import Image
import numpy as np
a = np.array(Image.open("labels/PH-1/IM-0001-0001.png"))
print(sorted(set(a.ravel().tolist())))'
	assert_output "[0, 255]"
}

@test "tensor2png: a failed write of the path list is exit 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	mkpics >in.ts
	run_split bash -c 'tensor2png -o out in.ts >/dev/full'
	assert_failure 1
	assert_equal "$stderr" "tensor2png: stdout: write error: No space left on device"
}
