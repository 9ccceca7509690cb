#!/usr/bin/env bash
# lab-results.sh OUT - the Markdown results page of pipelines/lab.mk's runs
# under OUT, written from what each run left (cmd.sh, log.tsv, dice.tsv,
# time.txt): every number beside the command that made it, the machine and
# the time taken.  Prints to stdout; `make -f pipelines/lab.mk results`
# writes it to a file.
set -euo pipefail
out=${1:?usage: lab-results.sh OUT}
[ -d "$out" ] || { echo "lab-results.sh: $out: not a directory" >&2; exit 1; }

# summary DIR: "mean std min max global_dice pixel_accuracy" of class 1.
summary() {
	awk -F'\t' 'h && $1 == 1 {print $3, $4, $5, $6, $7, $10} /^class\t/ {h = 1}' "$1/dice.tsv"
}
field() { awk -F'\t' -v k="$2" '$1 == k {print $2}' "$1/time.txt"; }

step_row() { # DIR LABEL
	local d=$1 s
	[ -f "$d/dice.tsv" ] || return 0
	read -r mean sd lo hi glob acc <<<"$(summary "$d")"
	printf '| %s | %s | %.3f ± %.3f | %.3f..%.3f | %.3f | %.4f | %s | %.0f |\n' \
		"$2" "$(tail -n +2 "$d/log.tsv" | wc -l)" "$mean" "$sd" "$lo" "$hi" \
		"$glob" "$acc" "$(field "$d" wall_s)" \
		"$(awk -v k="$(field "$d" peak_rss_kib)" 'BEGIN {print k / 1024}')"
}

echo "# Lab results"
echo
echo "Written by \`make -f pipelines/lab.mk results OUT=$out\` from the runs"
echo "under \`$out\`. Each run's exact commands are in its \`cmd.sh\` (below);"
echo "its per-epoch log, curve (\`curve.png\`) and overlays (\`png/\`) beside it."
first=$(find "$out" -name cmd.sh | sort | head -n 1)
[ -n "$first" ] && printf '\nMachine: %s\n' "$(head -n 1 "$first" | sed 's/^# //')"
echo
echo "Validation Dice is the mean over the validation frames of the per-frame"
echo "endocardium Dice (dice-score; a frame with both masks empty counts 1)."
echo
# The source task a source run was made with (runs before source.txt: phantom).
source_of() {
	if [ -f "$1/source.txt" ]; then cat "$1/source.txt"; else echo phantom; fi
}
rows=$(step_row "$out/source/run" "source (pre-training, $(source_of "$out/source/run"))"
	step_row "$out/source-phantom/run" "source (pre-training, phantom)"
	for s in fcn-alexnet scratch-rgb; do
		step_row "$out/$s" "$s"
	done
	step_row "$out/pretrained-rgb" "pretrained-rgb (from $(source_of "$out/source/run"))"
	step_row "$out/pretrained-rgb-phantom" "pretrained-rgb (from phantom)"
	for s in fcn-8s unet; do
		step_row "$out/$s" "$s"
	done)
if [ -n "$rows" ]; then
	echo "## The lab's steps and the recipe on one split"
	echo
	echo "| run | epochs | val Dice mean ± std | min..max | global Dice | pixel accuracy | train wall s | peak RSS MiB |"
	echo "|---|---|---|---|---|---|---|---|"
	echo "$rows"
fi
if [ -f "$out/with-dice/report.tsv" ]; then
	echo
	echo "The lab's step 2 (\`with-dice\`): FCN-AlexNet from scratch scores"
	echo "pixel accuracy $(awk -F'\t' '$1 == "val_pixel_accuracy" {print $2}' "$out/with-dice/report.tsv")"
	echo "and Dice $(awk -F'\t' '$1 == "val_dice" {print $2}' "$out/with-dice/report.tsv")."
fi
if [ -d "$out/cv" ]; then
	echo
	echo "## Leave one case out (\`cv\`)"
	echo
	echo "| validation case | epochs | val Dice mean ± std | min..max | global Dice | pixel accuracy | train wall s | peak RSS MiB |"
	echo "|---|---|---|---|---|---|---|---|"
	for d in "$out"/cv/*/; do
		step_row "${d%/}" "$(basename "$d")"
	done
	echo
	for d in "$out"/cv/*/; do
		[ -f "$d/dice.tsv" ] && summary "${d%/}"
	done | awk '{s += $1; if (NR == 1 || $1 < lo) lo = $1; n++}
		END {if (n) printf "Mean over the %d folds of the per-fold mean Dice: %.3f (lowest fold %.3f).\n", n, s / n, lo}'
	echo
	echo "### What a cardiologist reads from them"
	echo
	echo "Each fold's held-out case, from its \`pred.ts\`: the challenge's contour"
	echo "measures (\`dice-score --metrics\`: APD, good contours = APD < 5 mm, Dice"
	echo "over good contours as the challenge reports it, Hausdorff) and volumes"
	echo "and ejection fraction from the predicted masks against the expert's"
	echo "(\`lv-volume --field pred\` and \`--field label\`; frames with i-contours"
	echo "only, so ED and ES of each slice)."
	echo
	echo "| case | good contours % | Dice (good) | APD mm | HD mm | HD95 mm | EDV ml pred / expert | ESV ml pred / expert | EF % pred / expert |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for d in "$out"/cv/*/; do
		d=${d%/}
		[ -f "$d/pred.ts" ] || continue
		m=$(dice-score --metrics "$d/pred.ts" | awk -F'\t' '$1 == "all" {print $6, $8, $9, $11, $12}')
		p=$(lv-volume --field pred "$d/pred.ts" | awk -F'\t' 'NR == 2 {print $4, $5, $7}')
		l=$(lv-volume --field label "$d/pred.ts" | awk -F'\t' 'NR == 2 {print $4, $5, $7}')
		read -r good dg apd hd hd95 <<<"$m"
		read -r pe ps pf <<<"$p"
		read -r le ls lf <<<"$l"
		printf '| %s | %.1f | %.3f | %.2f | %.2f | %.2f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f |\n' \
			"$(basename "$d")" "$good" "$dg" "$apd" "$hd" "$hd95" "$pe" "$le" "$ps" "$ls" "$pf" "$lf"
	done
fi
# fold_mean DIR: the mean per-frame Dice of the cv fold DIR (empty if none).
fold_mean() { if [ -f "$1/dice.tsv" ]; then summary "$1" | awk '{print $1}'; fi; }

# seed_list DIR: the N of DIR/seedN/, in numeric order, space-separated.
seed_list() { (cd "$1" && ls -d seed*/ | sed 's,seed,,; s,/,,' | sort -n | tr '\n' ' '); }

if compgen -G "$out/seed*/cv" >/dev/null && [ -d "$out/cv" ]; then
	echo
	echo "### The spread over seeds (\`seeds\`)"
	echo
	echo "The same recipe, folds and post-processing, with the seed of the"
	echo "initialisation, the augmentation and the batch order changed"
	echo "(seed 1 is the table above)."
	echo
	seeds=$(seed_list "$out")
	hdr="| validation case | seed 1"; sep="|---|---"
	for s in $seeds; do hdr="$hdr | seed $s"; sep="$sep|---"; done
	echo "$hdr | mean ± std over seeds |"
	echo "$sep|---|"
	for d in "$out"/cv/*/; do
		c=$(basename "$d")
		vals="$(fold_mean "$out/cv/$c")"
		for s in $seeds; do vals="$vals $(fold_mean "$out/seed$s/cv/$c")"; done
		echo "$c $vals" | awk '{printf "| %s", $1; n = 0; s = 0; q = 0
			for (i = 2; i <= NF; i++) {printf " | %.3f", $i; n++; s += $i; q += $i * $i}
			m = s / n; v = n > 1 ? (q - n * m * m) / (n - 1) : 0
			printf " | %.3f ± %.3f |\n", m, sqrt(v > 0 ? v : 0)}'
	done
	echo
	for s in 1 $seeds; do
		dir=$out/cv; [ "$s" = 1 ] || dir=$out/seed$s/cv
		for d in "$dir"/*/; do fold_mean "${d%/}"; done |
			awk -v s="$s" '{t += $1; if (NR == 1 || $1 < lo) lo = $1; n++}
				END {if (n) printf "- Seed %s: mean over the %d folds %.3f, lowest fold %.3f.\n", s, n, t / n, lo}'
	done
fi
if compgen -G "$out/ema/seed*/cv" >/dev/null; then
	echo
	echo "### Weight averaging (\`ema\`)"
	echo
	echo "cv again with \`fcn-train --ema D\`: the model written is the moving"
	echo "average of the weights and BatchNorm statistics. Training itself is"
	echo "unchanged by it, so where the train_loss column of the two logs is"
	echo "identical (paired: yes) a row compares two models from one run of"
	echo "updates: the last weights (raw, the seed's fold above) and their"
	echo "average. A row whose losses differ (paired: no) was trained by a"
	echo "different build than its raw fold (two trajectories of one seed)."
	echo
	echo "| validation case | seed | raw | EMA | EMA − raw | paired |"
	echo "|---|---|---|---|---|---|"
	pairs=$(for d in "$out"/ema/seed*/cv/*/; do
		d=${d%/} c=$(basename "$d") s=$(basename "$(dirname "$(dirname "$d")")")
		s=${s#seed}
		raw=$out/cv/$c; [ "$s" = 1 ] || raw=$out/seed$s/cv/$c
		e=$(fold_mean "$d") r=$(fold_mean "$raw") p=no
		cmp -s <(cut -f4 "$d/log.tsv") <(cut -f4 "$raw/log.tsv") && p=yes
		if [ -n "$e" ] && [ -n "$r" ]; then echo "$c $s $r $e $p"; fi
	done | sort -k2,2n -k1,1)
	echo "$pairs" | awk 'NF {printf "| %s | %s | %.3f | %.3f | %+.3f | %s |\n", $1, $2, $3, $4, $4 - $3, $5}'
	d=$(grep -ho -- '--ema [0-9.]*' "$out"/ema/seed*/cv/*/cmd.sh 2>/dev/null | sort -u | paste -sd, -)
	echo
	echo "$pairs" | awk -v d="$d" 'NF && $5 == "yes" {n++; r += $3; e += $4; w += $4 > $3}
		NF {m++; rr += $3; ee += $4}
		END {if (n) printf "Over the %d paired rows (%s): raw %.3f, EMA %.3f; EMA higher in %d.", n, d, r / n, e / n, w
		     if (m > n) printf " Over all %d rows: raw %.3f, EMA %.3f.", m, rr / m, ee / m
		     if (m) printf "\n"}'
fi
if compgen -G "$out/epochs*/cv" >/dev/null && [ -d "$out/cv" ]; then
	echo
	echo "### Longer training (\`longer\`)"
	echo
	echo "cv again, same seed, with more epochs (the poly schedule stretched to"
	echo "them), beside the recipe's folds."
	echo
	echo "| validation case | epochs | recipe | longer | longer − recipe | train wall s |"
	echo "|---|---|---|---|---|---|"
	for d in "$out"/epochs*/cv/*/; do
		d=${d%/} c=$(basename "$d")
		l=$(fold_mean "$d") r=$(fold_mean "$out/cv/$c")
		if [ -n "$l" ] && [ -n "$r" ]; then
			printf '| %s | %s | %.3f | %.3f | %+.3f | %s |\n' "$c" "$(tail -n +2 "$d/log.tsv" | wc -l)" \
				"$r" "$l" "$(awk -v a="$l" -v b="$r" 'BEGIN {print a - b}')" "$(field "$d" wall_s)"
		fi
	done
fi
if compgen -G "$out/strong/seed*/cv" >/dev/null; then
	echo
	echo "### The stronger augmentation (\`strong\`, now the recipe)"
	echo
	echo "cv again for each seed with \`UNET_AUG\` as it is now: any rotation,"
	echo "zoom 0.75–1.3, per-axis zoom 0.9–1.1, elastic deformation, gamma"
	echo "0.6–1.6, blur (the cv and seeds tables above were made with the milder"
	echo "\`MILD_AUG\` before it; each run's cmd.sh has its options). Mean per-frame"
	echo "Dice of each fold; \"mild\" is the mean of the same seeds above."
	echo
	sseeds=$(seed_list "$out/strong")
	hdr="| validation case"; sep="|---"
	for s in $sseeds; do hdr="$hdr | seed $s"; sep="$sep|---"; done
	echo "$hdr | strong, mean ± std | mild, mean | strong − mild |"
	echo "$sep|---|---|---|"
	first=${sseeds%% *}
	for d in "$out"/strong/seed"$first"/cv/*/; do
		c=$(basename "$d") vals="" mild=""
		for s in $sseeds; do
			vals="$vals $(fold_mean "$out/strong/seed$s/cv/$c")"
			m=$out/cv/$c; [ "$s" = 1 ] || m=$out/seed$s/cv/$c
			mild="$mild $(fold_mean "$m")"
		done
		echo "$c $(echo $mild | awk '{s = 0; for (i = 1; i <= NF; i++) s += $i; print NF ? s / NF : "-"}') $vals" |
			awk '{printf "| %s", $1; n = 0; s = 0; q = 0
				for (i = 3; i <= NF; i++) {printf " | %.3f", $i; n++; s += $i; q += $i * $i}
				m = s / n; v = n > 1 ? (q - n * m * m) / (n - 1) : 0
				printf " | %.3f ± %.3f | %.3f | %+.3f |\n", m, sqrt(v > 0 ? v : 0), $2, m - $2}'
	done
	echo
	for s in $sseeds; do
		for d in "$out"/strong/seed$s/cv/*/; do fold_mean "${d%/}"; done |
			awk -v s="$s" '{t += $1; if (NR == 1 || $1 < lo) lo = $1; n++}
				END {if (n) printf "- Seed %s: mean over the %d folds %.3f, lowest fold %.3f.\n", s, n, t / n, lo}'
	done
	walls=$(for d in "$out"/strong/seed*/cv/*/; do field "${d%/}" wall_s; done | sort -n | sed -n '1p;$p' | paste -sd' ' -)
	[ -z "$walls" ] || echo "- Training time per fold (1 thread, 2 folds at once on the 2 cores): $(echo $walls | awk '{printf "%.0f–%.0f s", $1, $2}')."
fi
for w in $(ls -d "$out"/wide/e*/ 2>/dev/null | sort -V); do
	compgen -G "${w}seed*/cv" >/dev/null || continue
	e=$(basename "$w" | sed 's/^e//')
	echo
	echo "### A wider net trained longer (\`wide\`, $e epochs)"
	echo
	echo "cv with the recipe's net at twice the channels (32, 64, 128, 256:"
	echo "\`OUT/nets/unet32.prototxt\`) for $e epochs, the recipe otherwise; mean"
	echo "per-frame Dice of each fold; \"strong\" is the same seed's fold of the"
	echo "recipe above (its net, its epochs), where there is one."
	echo
	wseeds=$(seed_list "$w")
	hdr="| validation case"; sep="|---"
	for s in $wseeds; do hdr="$hdr | seed $s | strong"; sep="$sep|---|---"; done
	echo "$hdr | wide, mean ± std |"
	echo "$sep|---|"
	cases=$(for s in $wseeds; do ls -d "${w}seed$s"/cv/*/ 2>/dev/null; done | xargs -r -n1 basename | sort -u)
	for c in $cases; do
		vals=""
		for s in $wseeds; do
			v=$(fold_mean "${w}seed$s/cv/$c" 2>/dev/null) || v=
			r=$(fold_mean "$out/strong/seed$s/cv/$c" 2>/dev/null) || r=
			vals="$vals ${v:--} ${r:--}"
		done
		echo "$c $vals" | awk '{printf "| %s", $1; n = 0; t = 0; q = 0
			for (i = 2; i <= NF; i += 2) {
				printf " | %s | %s", $i == "-" ? "-" : sprintf("%.3f", $i), $(i + 1) == "-" ? "-" : sprintf("%.3f", $(i + 1))
				if ($i != "-") {n++; t += $i; q += $i * $i}}
			m = n ? t / n : 0; v = n > 1 ? (q - n * m * m) / (n - 1) : 0
			if (n) printf " | %.3f ± %.3f |\n", m, sqrt(v > 0 ? v : 0); else print " | - |"}'
	done
	echo
	walls=$(for d in "$w"seed*/cv/*/; do field "${d%/}" wall_s 2>/dev/null; done | sort -n | sed -n '1p;$p' | paste -sd' ' -)
	[ -z "$walls" ] || echo "- Training time per fold (1 thread, 2 folds at once on the 2 cores): $(echo $walls | awk '{printf "%.0f–%.0f s", $1, $2}')."
done
if compgen -G "$out/ensemble/*/dice.tsv" >/dev/null; then
	echo
	echo "### An ensemble of the seeds (\`ensemble\`)"
	echo
	echo "Each fold's validation case predicted by its fold models of the seeds"
	echo "above at once (\`fcn-predict -m A -m B -m C\`: the softmax averaged over"
	echo "the models and the TTA copies, then the same post-processing)."
	echo
	echo "| validation case | models | ensemble | lowest frame | mean of the single models | command |"
	echo "|---|---|---|---|---|---|"
	for d in "$out"/ensemble/*/; do
		d=${d%/} c=$(basename "$d")
		[ -f "$d/dice.tsv" ] || continue
		read -r mean sd lo hi glob acc <<<"$(summary "$d")"
		ms=$(grep -o -- '-m [^ ]*' "$d/cmd.sh" | sed 's/^-m //')
		single=$(for m in $ms; do fold_mean "$(dirname "$m")"; done | awk '{s += $1; n++} END {if (n) printf "%.3f", s / n}')
		printf '| %s | %d | %.3f | %.3f | %s | `%s` |\n' "$c" "$(echo $ms | wc -w)" "$mean" "$lo" "$single" "$(cat "$d/cmd.sh")"
	done
	awk -F'\t' '{t += $2; if (NR == 1 || $2 < lo) lo = $2; n++}
		END {if (n) printf "\nMean over the %d folds %.3f, lowest fold %.3f.\n", n, t / n, lo}' "$out/ensemble/folds.tsv"
fi
if [ -d "$out/ablate" ]; then
	echo
	echo "### What each part of the recipe gives (\`ablate\`, seed 1)"
	echo
	echo "cv again with one part taken out: no-aug trains on centre crops only,"
	echo "ce-only drops the soft Dice term of the loss, batch-dice takes the"
	echo "soft Dice over the batch instead of per image, no-norm drops the MVN"
	echo "input layer (a fixed 1/500 scale of the 16-bit values instead)."
	echo
	cases=$(cd "$out/cv" && ls -d */ | tr -d / | tr '\n' ' ')
	hdr="| recipe"; sep="|---"
	for c in $cases; do hdr="$hdr | $c"; sep="$sep|---"; done
	echo "$hdr | mean |"
	echo "$sep|---|"
	for a in full "$out"/ablate/*/; do
		if [ "$a" = full ]; then dir=$out/cv; name="the recipe"; else dir=${a%/}/cv; name=$(basename "$a"); fi
		vals=""
		for c in $cases; do v=$(fold_mean "$dir/$c"); vals="$vals ${v:--}"; done
		echo "$name $vals" | awk '{printf "| %s", $1 ($1 == "the" ? " recipe" : ""); n = 0; s = 0
			for (i = ($1 == "the" ? 3 : 2); i <= NF; i++) {if ($i == "-") {printf " | -"; continue}
				printf " | %.3f", $i; n++; s += $i}
			k = NF - ($1 == "the" ? 2 : 1)
			printf " | %s |\n", !n ? "-" : n < k ? sprintf("%.3f (%d of %d folds)", s / n, n, k) : sprintf("%.3f", s / n)}'
	done
fi
if [ -f "$out/postproc.tsv" ]; then
	echo
	echo "### What post-processing and test-time augmentation give (\`postproc\`)"
	echo
	echo "Every fold model of \`cv\` and \`seeds\` predicted again with each"
	echo "combination of \`fcn-predict --largest\` (largest component, holes"
	echo "filled), \`--hull\` (its convex hull) and \`--tta\` (softmax averaged"
	echo "over the image and its three flips; \`--tta=dihedral\`: over its 8"
	echo "flips and 90° rotations). Mean per-frame Dice over the folds and"
	echo "seeds; the worst frame beside it."
	echo
	echo "| fcn-predict options | mean Dice | lowest fold mean | worst frame | models |"
	echo "|---|---|---|---|---|"
	awk -F'\t' 'NR > 1 {k = $2; s[k] += $3; n[k]++; if (!(k in lo) || $3 < lo[k]) lo[k] = $3
		if (!(k in w) || $4 < w[k]) w[k] = $4; if (!(k in o)) {o[k] = ++m; name[m] = k}}
		END {for (i = 1; i <= m; i++) {k = name[i]
			printf "| `%s` | %.3f | %.3f | %.3f | %d |\n", k, s[k] / n[k], lo[k], w[k], n[k]}}' "$out/postproc.tsv"
fi
if [ -f "$out/model.fcn" ] && [ -f "$out/best.tsv" ]; then
	echo
	echo "## The recipe on every labelled case (\`best\`)"
	echo
	if [ -f "$out/best-time.txt" ]; then
		wall=$(awk -F'\t' '$1 == "wall_s" {print $2 " s"}' "$out/best-time.txt")
	else # runs before best-time.txt: the training time from the log's images/s
		n=$(tensor-info -s "$out/data/all.ts" 2>/dev/null | awk '{print $2}')
		wall=$(awk -F'\t' -v n="${n:-0}" 'NR > 1 && $8 > 0 {t += n / $8} END {printf "%.0f s (training, from the log)", t}' "$out/best.tsv")
	fi
	awk -F'\t' -v w="$wall" -v m="$out/model.fcn" 'NR > 1 {e = $1; l = $4; if (NR == 2) l0 = $4}
		END {printf "`%s`: %d epochs on all labelled frames of DATA, train loss %.4f (epoch 1: %.4f), %s.\n", m, e, l, l0, w}' "$out/best.tsv"
	echo "It has no validation case here: it is judged on the case kept aside."
fi
if [ -d "$out/peer" ]; then
	echo
	echo "## The peer: the PyTorch U-Net recipe on the same folds (\`peer-cv\`)"
	echo
	echo "bench/unet_recipe_torch.py: z-scored input, flips and 90° rotations,"
	echo "cross-entropy + soft Dice, Adam 1e-3, batch 8, full 256×256 frames, no"
	echo "post-processing. Dice as above, after the last epoch (best epoch beside it)."
	echo
	echo "| validation case | epochs | last-epoch val Dice | best val Dice (epoch) | seconds | command |"
	echo "|---|---|---|---|---|---|"
	for f in "$out"/peer/*.tsv; do
		[ -f "$f" ] || continue
		c=$(basename "$f" .tsv)
		awk -F'\t' -v c="$c" -v cmd="$(cat "$f.cmd" 2>/dev/null)" 'NR > 1 {
			if ($4 > best) {best = $4; be = $1}
			last = $4; e = $1; t = $2}
			END {if (e) printf "| %s | %d | %.3f | %.3f (%d) | %.0f | `%s` |\n", c, e, last, best, be, t, cmd}' "$f"
	done
fi
echo
echo "Earlier runs, recorded by hand: [results-history.md](results-history.md)."
echo
echo "## Commands"
for c in $(find "$out" -name cmd.sh | sort); do
	echo
	echo "\`$(dirname "$c")\`:"
	echo '```sh'
	tail -n +2 "$c"
	echo '```'
done
