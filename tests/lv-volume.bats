#!/usr/bin/env bats
# lv-volume: volumes, EF and mass per case, checked on the phantom against
# volumes computed independently from its contour files, and on the shared
# expert contours.
load helper

setup() {
	T=$BATS_TEST_TMPDIR
	REF="$PYTHON $ROOT/tests/ref/phantom_volumes.py"
	cd "$T"
}

# io.ts: a phantom stack, label 2 = myocardium (even phases), 1 = blood
phantom_stack() {
	phantom -o ph --cases 2 --size 128x128 --slices 3 --phases 8 >/dev/null
	sunnybrook-index --contours io ph | dcm2tensor --list - |
		contour2mask -m ocontour -c 2 -m contour -c 1 >io.ts
}

@test "lv-volume --help documents every option" {
	run_split lv-volume --help
	assert_success
	for o in --field --blood --myo --height --per-phase --json --plot --case-key --help; do
		assert_output --partial -- "$o"
	done
	assert_output --partial "default"
	assert_equal "$stderr" ""
}

@test "lv-volume: usage errors exit 2 with empty stdout" {
	assert_usage_error lv-volume --bogus
	assert_usage_error lv-volume --blood 0
	assert_usage_error lv-volume --blood 1 --myo 1
	assert_usage_error lv-volume --height 0
	assert_usage_error lv-volume --height tall
	assert_usage_error lv-volume --field ''
	assert_usage_error lv-volume --plot ''
}

@test "lv-volume: phantom volumes, EF and mass match the contour files (skimage, shoelace)" {
	phantom_stack
	run_split lv-volume --field label --per-phase io.ts
	assert_success
	echo "$output" >rep
	# 2 cases x 8 phases, then the summary
	assert_equal "$(sed -n '2,17p' rep | wc -l)" 16
	assert_line --index 18 --regexp $'^PH-1\t8\t3\t[0-9.]+\t[0-9.]+\t[0-9.]+\t[0-9.]+\t0\t4\t[0-9.]+\t3$'
	PHANTOM_SIZE=128 run $REF ph 8 rep --shoelace 0.03
	assert_success
}

@test "lv-volume: --height thickness, a number, and auto agree on the phantom (no gap)" {
	phantom_stack
	a=$(lv-volume -f label io.ts)
	b=$(lv-volume -f label --height thickness io.ts)
	c=$(lv-volume -f label --height 10 io.ts)
	assert_equal "$a" "$b"
	assert_equal "$a" "$c"
	# twice the height, twice the volumes, the same EF
	d=$(lv-volume -f label --height 20 io.ts | awk -F'\t' 'NR==2 {print $4, $7}')
	e=$(lv-volume -f label io.ts | awk -F'\t' 'NR==2 {print $4, $7}')
	run awk -v d="$d" -v e="$e" 'BEGIN { split(d, a, " "); split(e, b, " ");
		exit !(a[1] - 2 * b[1] < 2e-6 && 2 * b[1] - a[1] < 2e-6 && a[2] == b[2]) }'
	assert_success
}

@test "lv-volume --json has the same numbers; stdin equals files; several files" {
	phantom_stack
	lv-volume -f label io.ts >a
	lv-volume -f label <io.ts >b
	cmp a b
	$PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
from stream import read_stream, write_stream
r = read_stream('io.ts'); write_stream(r[:21], 'h1'); write_stream(r[21:], 'h2')"
	lv-volume -f label h1 - <h2 >c
	cmp a c
	run_split lv-volume -f label --json --per-phase io.ts
	assert_success
	echo "$output" | $PYTHON -c "
import json, sys
d = json.load(sys.stdin)['cases']
rows = [l.split('\t') for l in open('a').read().split('\n')[1:] if l]
assert len(d) == 2 and len(d[0]['per_phase']) == 8, d
for c, r in zip(d, rows):
    assert c['case'] == r[0] and '%.6f' % c['edv_ml'] == r[3] and '%.6f' % c['ef_pct'] == r[6], (c, r)
    assert c['height_mm'] == 10"
}

@test "lv-volume --plot writes one PNG per case, atomically, deterministic" {
	phantom_stack
	run_split lv-volume -f label --plot plots io.ts
	assert_success
	run $PYTHON -c "
from PIL import Image
import numpy as np
for c in ('PH-1', 'PH-2'):
    a = np.asarray(Image.open('plots/%s.png' % c))
    assert a.shape == (240, 400, 3), a.shape
    red = ((a[..., 0] > 200) & (a[..., 1] < 60)).sum()
    green = ((a[..., 1] > 140) & (a[..., 0] < 60)).sum()
    assert red > 20 and green > 20, (red, green)"
	assert_success
	cp -r plots first
	lv-volume -f label --plot plots io.ts >/dev/null
	diff -r first plots
	run find plots -name '*.tmp*'
	assert_output ""
	touch notdir
	run_split lv-volume -f label --plot notdir io.ts
	assert_failure 1
	[[ $stderr == "lv-volume: notdir: "* ]] || fail "$stderr"
}

@test "lv-volume: predicted masks (field pred) and no myocardium give mass nan" {
	phantom_stack
	contour2mask --field pred <io.ts >p.ts
	run_split lv-volume p.ts
	assert_success
	assert_line --index 1 --regexp $'^PH-1\t8\t3\t.*\tnan\t3$'
	# the same blood volumes as the label with myocardium
	assert_equal "$(lv-volume p.ts | cut -f1-9)" "$(lv-volume -f label io.ts | cut -f1-9)"
}

@test "lv-volume: EF pairs slices: one missing at ES leaves that slice out of EDV and ESV" {
	phantom_stack
	# empty the blood pool of PH-1's first slice at ES (phase 4: frame 5)
	$PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
from stream import read_stream, write_stream
r = read_stream('io.ts')
for x in r:
    if x['id'] == 'PH-1/IM-0001-0005':
        x['label'][x['label'] == 1] = 0
write_stream(r, 'hole.ts')
write_stream([x for x in r if not (x['id'].startswith('PH-1/') and int(x['meta']['frame']) <= 8)], 'two.ts')"
	run_split lv-volume -f label hole.ts
	assert_success
	assert_line --index 1 --regexp $'^PH-1\t8\t3\t.*\t0\t4\t[0-9.]+\t2$'
	# the same EDV, ESV and EF as the stack without that slice at all
	assert_equal "$(echo "$output" | sed -n 2p | cut -f4-7)" "$(lv-volume -f label two.ts | sed -n 2p | cut -f4-7)"
}

@test "lv-volume: bad input is one line naming the record" {
	phantom_stack
	run_split lv-volume io.ts
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "lv-volume: io.ts: record 1 (PH-1/IM-0001-0001): no 'pred' tensor"
	$PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import write_stream
m = {'pixel_spacing': [1.0, 1.0], 'instance_number': 1, 'cardiac_number_of_images': 4, 'slice_location': 0.0}
p = np.zeros((1, 4, 4), np.uint8)
write_stream([{'id': 'c/1', 'pred': p, 'meta': m}, {'id': 'c/2', 'pred': p, 'meta': m}], 'dup.ts')
write_stream([{'id': 'c/1', 'pred': p, 'meta': {'pixel_spacing': [1.0, 1.0]}}], 'nometa.ts')
write_stream([{'id': 'c/1', 'pred': p, 'meta': m}], 'one.ts')"
	run_split lv-volume dup.ts
	assert_failure 1
	assert_equal "$stderr" "lv-volume: dup.ts: record 2 (c/2): a second record for slice 0.000 mm, phase 0 of case 'c'"
	run_split lv-volume nometa.ts
	assert_failure 1
	assert_equal "$stderr" "lv-volume: nometa.ts: record 1 (c/1): no numeric 'instance_number' meta"
	run_split lv-volume one.ts
	assert_failure 1
	assert_equal "$stderr" "lv-volume: c: one slice position and no slice_thickness: give --height MM"
	run_split lv-volume --height 8 one.ts
	assert_success
	head -c 5000 io.ts >trunc.ts
	run_split lv-volume -f label trunc.ts
	assert_failure 1
	[[ $stderr == "lv-volume: trunc.ts: "* ]] || fail "$stderr"
	run_split lv-volume </dev/null
	assert_failure 1
	assert_equal "$stderr" "lv-volume: -: no records"
}

@test "lv-volume: EF of the shared cases from the expert contours" {
	need_shared
	sunnybrook-index --contours io "$SHARED" | dcm2tensor --list - |
		contour2mask -m ocontour -c 2 -m contour -c 1 >io.ts
	run_split lv-volume --field label io.ts
	assert_success
	# the numbers docs/lv-volume.md quotes (heart failure with infarction:
	# EF 21-33 %); ED is the phase with the epicardium drawn
	assert_equal "$(echo "$output" | cut -f1,4,5,7,10)" "$(printf '%s\n' \
		$'case\tedv_ml\tesv_ml\tef_pct\tmass_g' \
		$'SC-HF-I-1\t195.761750\t145.199778\t25.828320\t118.172021' \
		$'SC-HF-I-2\t246.827634\t184.770251\t25.141992\t143.450688' \
		$'SC-HF-I-4\t233.928273\t183.529201\t21.544669\t133.546907' \
		$'SC-HF-I-5\t206.309151\t138.685928\t32.777617\t116.414529')"
}

@test "lv-volume: the example in docs/lv-volume.md runs as written" {
	"$ROOT/tests/ref/docpy.sh" "$ROOT/docs/lv-volume.md" 1 >ex.sh
	run bash -e ex.sh
	assert_success
	[ -f curves/PH-1.png ]
	assert_line --index 0 --partial $'case\tphases\tslices'
}
