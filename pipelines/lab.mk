# lab.mk - NVIDIA DIGITS' "Medical Image Segmentation" lab, and our own
# recipe, as Make targets over any Sunnybrook-layout folder, always split by
# case:
#
#   make -f pipelines/lab.mk TARGET [DATA=DIR] [OUT=DIR] [VAL=CASE] ...
#
# DATA  a Sunnybrook-layout tree (default: a phantom made in OUT, PHANTOM
#       its options: 5 cases of 3 slices x 10 phases)
# OUT   where everything goes (default build/lab)
# VAL   the validation case (default: one drawn from SEED by dataset.sh)
#
# Targets (each training target leaves DIR/{cmd.sh,model.fcn,log.tsv,
# time.txt,pred.ts,dice.tsv,curve.png,png/}; see pipelines/lab-step.sh):
#   dataset         OUT/data/{train,val}.ts (endocardium labels)
#   fcn-alexnet     step 1: the lab's FCN-AlexNet from scratch (zero init)
#   with-dice       step 2: its pixel accuracy beside its Dice
#   pretrained-rgb  steps 3-4: to-rgb, FCN-AlexNet fine-tuned from
#                   PRETRAINED=FILE (.caffemodel or model) or, by default,
#                   from a net pretrained here on a source task (SOURCE:
#                   o-contours, the epicardium of the training cases, or
#                   phantom); beside the same net from scratch, same epochs
#   fcn-8s          step 6: FCN-8s
#   unet            our recipe on the split (nets/unet.prototxt, MVN input,
#                   streamed augmentation, cross-entropy + Dice, AdamW,
#                   poly with warm-up, largest component, flip TTA)
#   cv              the recipe, leave one case out over every case of DATA
#   seeds           cv again for each of SEEDS (default 2 3), OUT/seedN
#   strong          cv again for each of STRONG_SEEDS (1 2 3), OUT/strong/seedN
#                   (the present recipe; cv and seeds were made before it)
#   pseudo          self-training: strong's fold models of PSEUDO_SEEDS label
#                   the unlabelled frames of the training cases; students
#                   trained on the lot, OUT/pseudo/seedN/cv/CASE
#   myo             cv with the myocardium as a third class (the o-contours;
#                   MYO_DATA says what a frame without one gets outside its
#                   i-contour) and each class's own soft Dice, for each of
#                   MYO_SEEDS (1 2 3), OUT/myo/seedN; scored on the
#                   endocardium as every other target
#   ensemble        each fold predicted by the fold models of ENSEMBLE_RUNS
#                   (default: strong's seeds) at once, OUT/ensemble/CASE
#   zoom            each fold predicted by each model of ENSEMBLE_RUNS and by
#                   the ensemble with UNET_PREDICT and each --tta-zoom set of
#                   ZOOM_SETS: OUT/zoom.tsv
#   wide            cv with the recipe's net at twice the channels for
#                   WIDE_EPOCHS (100) epochs, each of WIDE_SEEDS (1 2 3),
#                   OUT/wide/eE/seedN
#   ema             cv again with fcn-train --ema EMA (0.99) for each of
#                   EMA_SEEDS (1 2 3), OUT/ema/seedN
#   longer          cv again with UNET_EPOCHS=LONG_EPOCHS (100), OUT/epochsN
#   ablate          cv without each part of the recipe, OUT/ablate/NAME
#   postproc        every fold model of cv and seeds predicted with each
#                   combination of --largest, --hull and --tta
#   repredict       the folds of cv, seeds, ema, longer, ablate predicted again
#                   with the present UNET_PREDICT
#   best            the recipe trained on all labelled cases: OUT/model.fcn
#   peer-cv         the PyTorch U-Net recipe (bench/unet_recipe_torch.py,
#                   PEER_PYTHON) on the same folds, as the peer
#   results         docs/results.md from the logs under OUT (RESULTS=FILE
#                   to write elsewhere)
#   all             everything above but best
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
BIN ?= $(ROOT)/bin
export PATH := $(BIN):$(PATH)
export THREADS ?= 2

OUT ?= build/lab
DATA ?=
VAL ?=
SEED ?= 1
PRETRAINED ?=
PHANTOM ?= --cases 5 --slices 3 --phases 10
RESULTS ?= $(ROOT)/docs/results.md
STEP := $(ROOT)/pipelines/lab-step.sh
ifeq ($(DATA),)
SRC := $(OUT)/phantom
else
SRC := $(DATA)
endif
D := $(OUT)/data
SPLIT := $(if $(VAL),--val-cases $(VAL),--seed $(SEED))
COMMON = --threads $(THREADS) --seed $(SEED)

# The lab's settings (DIGITS' defaults for it): SGD, lr 1e-4, 5 epochs.
LAB_EPOCHS ?= 5
LAB_LR ?= 1e-4
# FCN-8s: the same solver, fewer epochs (it is 10x the arithmetic), and
# the 16-bit values scaled by 1/500 (the lab fed it 8-bit images): on the
# raw values its 16 msra-filled layers diverged within the first epoch
# (train loss 87.3, a saturated softmax; docs/results-history.md).
FCN8S_EPOCHS ?= 3
FCN8S_EXTRA ?= --scale 0.002
# Pre-training of the transfer-learning step.
PRE_EPOCHS ?= 3

# The recipe (one for every case and fold; see docs/lab.md).  Its net:
# UNET_BASE (the U-Net of nets/unet.prototxt) with deep supervision
# (pipelines/deep-supervision.prototxt: two coarser decoder levels scored
# and given the loss too, in training only), OUT/nets/unet-recipe.prototxt.
UNET_BASE ?= $(ROOT)/nets/unet.prototxt
UNET_NET ?= $(abspath $(OUT))/nets/unet-recipe.prototxt
UNET_EPOCHS ?= 40
UNET_LR ?= 3e-3
UNET_WARMUP ?= 50
CROP ?= 128x128
# The stronger augmentation (nnU-Net's kinds: any rotation, wider zoom,
# per-axis zoom, elastic deformation, gamma, blur); it replaced
# MILD_AUG, which the runs in OUT/cv and OUT/seedN were made with, after
# `strong` scored higher on 11 of the 12 folds x seeds (docs/lab.md).
UNET_AUG ?= --center-crop $(CROP) --translate 0.5:12 --flip-h 0.5 --flip-v 0.5 \
	--rot90 0.75 --rotate 0.7:45 --scale 0.5:0.75:1.3 --scale-axes 0.3:0.9:1.1 \
	--elastic 0.3:100:10 --gamma 0.4:0.6:1.6 --blur 0.2:0.5:1.0
MILD_AUG = --center-crop $(CROP) --translate 0.5:12 --flip-h 0.5 --flip-v 0.5 \
	--rot90 0.75 --rotate 0.5:15 --scale 0.5:0.85:1.2 --gamma 0.3:0.7:1.5
UNET_LOSS ?= --loss softmax+dice --dice-over image
UNET_SOLVER = $(UNET_LOSS) --solver adamw \
	--weight-decay 1e-4 --lr $(UNET_LR) --lr-policy poly --power 0.9 \
	--warmup $(UNET_WARMUP) --batch 4 $(UNET_EXTRA)
UNET_TRAIN = --epochs $(UNET_EPOCHS) $(UNET_SOLVER)
UNET_EXTRA ?=
UNET_PREDICT ?= --tta=dihedral --largest --hull

.PHONY: all dataset fcn-alexnet with-dice pretrained-rgb fcn-8s unet cv seeds strong myo pseudo pseudo-cv ensemble zoom wide ema longer ablate postproc repredict peer-cv best results
.DELETE_ON_ERROR:
.SECONDARY:
all: dataset fcn-alexnet with-dice pretrained-rgb fcn-8s unet cv results

# --- data -------------------------------------------------------------------
$(OUT)/phantom/link.csv:
	rm -rf $(OUT)/phantom
	mkdir -p $(OUT)
	phantom -o $(OUT)/phantom $(PHANTOM) --seed $(SEED)

SRC_STAMP := $(if $(DATA),,$(OUT)/phantom/link.csv)

dataset: $(D)/train.ts
$(D)/train.ts $(D)/val.ts &: $(SRC_STAMP)
	$(ROOT)/pipelines/dataset.sh -q $(SPLIT) $(SRC) $(D)

# Every labelled frame of every case, one stream (for best and cv).
$(D)/all.ts: $(SRC_STAMP)
	mkdir -p $(D)
	sunnybrook-index $(SRC) | dcm2tensor --list - | \
		contour2mask --from-meta contour --class 1 > $@.tmp
	mv $@.tmp $@

# 3-channel copies for the RGB steps.
%-rgb.ts: %.ts
	to-rgb $< > $@.tmp
	mv $@.tmp $@

# Nets with msra fillers on every learned convolution (the descriptions as
# published fill with constant 0, which leaves the net at "all background").
$(OUT)/nets/%-msra.prototxt: $(ROOT)/nets/%.prototxt
	mkdir -p $(dir $@)
	awk '/^ *name: "upscore/ {fixed = 1} /^ *name: "/ && !/upscore/ {fixed = 0} \
	     /convolution_param *\{/ && !fixed && !/weight_filler/ {sub(/convolution_param *\{/, "& weight_filler { type: \"msra\" }")} \
	     {print}' $< > $@

# The recipe's net: the U-Net and its deep-supervision heads.
$(abspath $(OUT))/nets/unet-recipe.prototxt: $(UNET_BASE) $(ROOT)/pipelines/deep-supervision.prototxt
	mkdir -p $(dir $@)
	cat $^ > $@.tmp
	mv $@.tmp $@

# The recipe's net at twice the channels (the target wide): 16, 32, 64, 128
# become 32, 64, 128, 256; the scorer's 2 outputs stay.
$(OUT)/nets/unet32.prototxt: $(UNET_NET)
	mkdir -p $(dir $@)
	sed -e 's/num_output: 128/num_output: 256/; s/num_output: 64/num_output: 128/' \
	    -e 's/num_output: 32/num_output: 64/; s/num_output: 16$$/num_output: 32/' \
	    -e 's/^name: "unet"/name: "unet32"/' $< > $@.tmp
	mv $@.tmp $@

# The recipe's net with a third class, the myocardium (the target myo):
# the scorer's and the deep-supervision heads' 2 outputs become 3.
$(OUT)/nets/unet-myo.prototxt: $(UNET_NET)
	mkdir -p $(dir $@)
	awk '/^layer/ {s = 0} /name: "(score|ds[0-9]+_(score|up))"/ {s = 1} \
	     s {sub(/num_output: 2$$/, "num_output: 3"); sub(/group: 2$$/, "group: 3")} {print}' $< | \
		sed 's/^name: "unet"/name: "unet-myo"/' > $@.tmp
	grep -q 'num_output: 3$$' $@.tmp
	mv $@.tmp $@

# The recipe's net without its input normalisation (the ablation no-norm):
# the MVN layer dropped, the 16-bit values scaled by a fixed 1/500 instead.
$(OUT)/nets/unet-nomvn.prototxt: $(UNET_NET)
	mkdir -p $(dir $@)
	awk '/^layer *\{.*\} *$$/ {if ($$0 !~ /type: "MVN"/) print; next} \
	     /^layer *\{/ {buf = ""; inl = 1} inl {buf = buf $$0 "\n"} !inl {print} \
	     inl && /^\}/ {inl = 0; if (buf !~ /type: "MVN"/) printf "%s", buf}' $< | \
		sed 's/data_scaled/data/g' > $@.tmp
	mv $@.tmp $@

# --- the lab ---------------------------------------------------------------
fcn-alexnet: $(OUT)/fcn-alexnet/dice.tsv
$(OUT)/fcn-alexnet/dice.tsv: $(D)/train.ts
	$(STEP) $(OUT)/fcn-alexnet $(D)/val.ts -- --net $(ROOT)/nets/fcn-alexnet.prototxt \
		--train $(D)/train.ts --val $(D)/val.ts --epochs $(LAB_EPOCHS) \
		--lr $(LAB_LR) $(COMMON)

with-dice: $(OUT)/with-dice/report.tsv
$(OUT)/with-dice/report.tsv: $(OUT)/fcn-alexnet/dice.tsv
	mkdir -p $(dir $@)
	awk -F'\t' 'NR > 1 {acc = $$6; dice = $$7} \
	     END {printf "metric\tvalue\nval_pixel_accuracy\t%s\nval_dice\t%s\n", acc, dice}' \
		$(OUT)/fcn-alexnet/log.tsv > $@.tmp
	mv $@.tmp $@
	cat $@

# The source task of the transfer step (without PRETRAINED): o-contours,
# the epicardium of the same training cases (a task on the same images,
# never the validation case's), or phantom, a separate phantom's
# endocardium.  SOURCE=phantom runs in OUT/source-phantom and
# OUT/pretrained-rgb-phantom, so both can be kept side by side.
SOURCE ?= o-contours
SX := $(if $(filter phantom,$(SOURCE)),-phantom)
SDIR := $(OUT)/source$(SX)
PDIR := $(OUT)/pretrained-rgb$(SX)
ifeq ($(PRETRAINED),)
WEIGHTS := $(SDIR)/model.fcn
ifeq ($(SOURCE),phantom)
$(SDIR)/data/train.ts $(SDIR)/data/val.ts &:
	rm -rf $(SDIR) && mkdir -p $(SDIR)
	phantom -o $(SDIR)/phantom $(PHANTOM) --seed $$(($(SEED) + 1000))
	$(ROOT)/pipelines/dataset.sh -q --seed $(SEED) $(SDIR)/phantom $(SDIR)/data
else ifeq ($(SOURCE),o-contours)
# The validation cases of D, so the split is the same whatever the draw.
$(SDIR)/data/train.ts $(SDIR)/data/val.ts &: $(D)/val.ts
	rm -rf $(SDIR) && mkdir -p $(SDIR)
	vc=$$(tensor-info $(D)/val.ts | awk -F'\t' '!/^#/ {sub(/\/.*/, "", $$1); print $$1}' | sort -u | paste -sd,); \
	$(ROOT)/pipelines/dataset.sh -q --contours o --val-cases "$$vc" $(SRC) $(SDIR)/data
else
$(error SOURCE must be o-contours or phantom, not '$(SOURCE)')
endif
$(SDIR)/model.fcn: $(OUT)/nets/fcn-alexnet-msra.prototxt $(SDIR)/data/train-rgb.ts $(SDIR)/data/val-rgb.ts
	$(STEP) $(SDIR)/run $(SDIR)/data/val-rgb.ts -- \
		--net $< --train $(SDIR)/data/train-rgb.ts \
		--val $(SDIR)/data/val-rgb.ts --epochs $(PRE_EPOCHS) \
		--lr $(LAB_LR) --class-weights auto $(COMMON)
	echo $(SOURCE) > $(SDIR)/run/source.txt
	cp $(SDIR)/run/model.fcn $@
else
WEIGHTS := $(PRETRAINED)
endif

pretrained-rgb: $(PDIR)/dice.tsv $(OUT)/scratch-rgb/dice.tsv
$(PDIR)/dice.tsv: $(D)/train-rgb.ts $(D)/val-rgb.ts $(WEIGHTS)
	$(STEP) $(PDIR) $(D)/val-rgb.ts -- \
		--net $(ROOT)/nets/fcn-alexnet.prototxt --weights $(WEIGHTS) \
		--train $(D)/train-rgb.ts --val $(D)/val-rgb.ts --epochs $(LAB_EPOCHS) \
		--lr $(LAB_LR) --class-weights auto $(COMMON)
$(OUT)/scratch-rgb/dice.tsv: $(D)/train-rgb.ts $(D)/val-rgb.ts $(OUT)/nets/fcn-alexnet-msra.prototxt
	$(STEP) $(OUT)/scratch-rgb $(D)/val-rgb.ts -- \
		--net $(OUT)/nets/fcn-alexnet-msra.prototxt \
		--train $(D)/train-rgb.ts --val $(D)/val-rgb.ts --epochs $(LAB_EPOCHS) \
		--lr $(LAB_LR) --class-weights auto $(COMMON)

fcn-8s: $(OUT)/fcn-8s/dice.tsv
$(OUT)/fcn-8s/dice.tsv: $(D)/train.ts $(OUT)/nets/fcn-8s-msra.prototxt
	$(STEP) $(OUT)/fcn-8s $(D)/val.ts -- --net $(OUT)/nets/fcn-8s-msra.prototxt \
		--train $(D)/train.ts --val $(D)/val.ts --epochs $(FCN8S_EPOCHS) \
		--lr $(LAB_LR) --class-weights auto $(FCN8S_EXTRA) $(COMMON)

# --- the recipe --------------------------------------------------------------
# recipe DIR TRAIN VAL: the U-Net on augmented records streamed from TRAIN,
# validated during training on the centre crops it sees (DIR/val-crop.ts);
# fcn-predict then crops VAL itself and puts the masks back in the frame.
recipe = mkdir -p $(1); \
	n=$$(tensor-info -s --json $(2) | $(RECORDS)); \
	$(STEP) $(1) $(3) --predict "$(UNET_PREDICT)" \
		--pre "augment --seed 0 --center-crop $(CROP) $(3) > $(1)/val-crop.ts" \
		--aug "--seed $(SEED) --epochs $(or $(4),$(UNET_EPOCHS)) $(UNET_AUG) $(2)" -- \
		--net $(UNET_NET) --train - --epoch-size $$n --val $(1)/val-crop.ts \
		--epochs $(or $(4),$(UNET_EPOCHS)) $(UNET_SOLVER) $(COMMON)
# The number of records of the stream that tensor-info -s --json describes.
RECORDS = sed -n 's/.*"records": *\([0-9]*\).*/\1/p' | head -n1
# The mean per-record Dice of class 1 in a dice-score --per-record file.
MEAN_DICE = awk -F'\t' 'h && $$1 == 1 {print $$3} /^class\t/ {h = 1}'

unet: $(OUT)/unet/dice.tsv
$(OUT)/unet/dice.tsv: $(D)/train.ts $(UNET_NET)
	$(call recipe,$(OUT)/unet,$(D)/train.ts,$(D)/val.ts)

CASES = $(shell $(BIN)/sunnybrook-index $(SRC) 2>/dev/null | awk -F'\t' 'NR == 1 {for (i = 1; i <= NF; i++) if ($$i == "case") c = i; next} {print $$c}' | sort -u)
cv: $(SRC_STAMP)
	@[ -n "$(CASES)" ] || { echo "lab.mk: $(SRC): no labelled cases found" >&2; exit 1; }
	$(MAKE) -f $(ROOT)/pipelines/lab.mk $(foreach c,$(CASES),$(OUT)/cv/$(c)/dice.tsv)
	@for c in $(CASES); do \
		printf '%s\t%s\n' "$$c" "$$($(MEAN_DICE) $(OUT)/cv/$$c/dice.tsv)"; \
	done | tee $(OUT)/cv/folds.tsv
# CV_TRAIN_DATA: dataset.sh options of a training stream of other labels
# (OUT/cv/CASE/data-train); validation and scoring stay on the endocardium.
CV_TRAIN_DATA ?=
$(OUT)/cv/%/dice.tsv: $(SRC_STAMP) $(UNET_NET)
	$(ROOT)/pipelines/dataset.sh -q --val-cases $* $(SRC) $(OUT)/cv/$*/data
	$(if $(CV_TRAIN_DATA),$(ROOT)/pipelines/dataset.sh -q $(CV_TRAIN_DATA) --val-cases $* $(SRC) $(OUT)/cv/$*/data-train)
	$(call recipe,$(OUT)/cv/$*,$(OUT)/cv/$*/$(if $(CV_TRAIN_DATA),data-train,data)/train.ts,$(OUT)/cv/$*/data/val.ts)

# The recipe's spread over seeds: cv again with each of SEEDS, in
# OUT/seedN (seed SEED is OUT/cv itself).
SEEDS ?= 2 3
seeds: $(SRC_STAMP)
	for s in $(SEEDS); do \
		$(MAKE) -f $(ROOT)/pipelines/lab.mk cv OUT=$(OUT)/seed$$s SEED=$$s DATA=$(DATA) \
			PHANTOM="$(PHANTOM)"; \
	done

# The present recipe (the stronger augmentation) over STRONG_SEEDS, in
# OUT/strong/seedN, beside cv and seeds (made with MILD_AUG before it).
STRONG_SEEDS ?= 1 2 3
strong: $(SRC_STAMP)
	for s in $(STRONG_SEEDS); do \
		$(MAKE) -f $(ROOT)/pipelines/lab.mk cv OUT=$(OUT)/strong/seed$$s SEED=$$s DATA=$(DATA) \
			PHANTOM="$(PHANTOM)"; \
	done

# The myocardium as a third class: cv over MYO_SEEDS, OUT/myo/seedN.
# MYO_DATA: the training labels (dataset.sh options).  Half the Sunnybrook
# frames have no o-contour; there the pixels outside the i-contour are
# painted background (the default: the myocardium mislabelled there) or,
# with --unknown 255, ignored (which measured worse: the ventricle grew
# into the ignored pixels; docs/results-history.md).
MYO_DATA ?= --contours io
MYO_SEEDS ?= 1 2 3
myo: $(SRC_STAMP) $(OUT)/nets/unet-myo.prototxt
	for s in $(MYO_SEEDS); do \
		$(MAKE) -f $(ROOT)/pipelines/lab.mk cv OUT=$(OUT)/myo/seed$$s SEED=$$s DATA=$(DATA) \
			PHANTOM="$(PHANTOM)" UNET_NET=$(abspath $(OUT)/nets/unet-myo.prototxt) \
			CV_TRAIN_DATA="$(MYO_DATA)" \
			UNET_EXTRA="$(UNET_EXTRA) --dice-classes each"; \
	done

# An ensemble: each fold's validation case predicted by the fold models of
# ENSEMBLE_RUNS together (fcn-predict -m A -m B ...: the softmax averaged
# over the models and the TTA copies), OUT/ensemble/CASE.
ENSEMBLE_RUNS ?= $(foreach s,$(STRONG_SEEDS),$(OUT)/strong/seed$(s))
ensemble:
	@[ -n "$(CASES)" ] || { echo "lab.mk: $(SRC): no labelled cases found" >&2; exit 1; }
	mkdir -p $(OUT)/ensemble
	for c in $(CASES); do \
		d=$(OUT)/ensemble/$$c; mkdir -p $$d; \
		cmd="fcn-predict $(foreach r,$(ENSEMBLE_RUNS),-m $(r)/cv/$$c/model.fcn) $(UNET_PREDICT) --threads $(THREADS) $(firstword $(ENSEMBLE_RUNS))/cv/$$c/data/val.ts"; \
		echo "$$cmd > $$d/pred.ts" > $$d/cmd.sh; \
		$$cmd > $$d/pred.ts.tmp; mv $$d/pred.ts.tmp $$d/pred.ts; \
		dice-score --per-record $$d/pred.ts > $$d/dice.tsv.tmp; mv $$d/dice.tsv.tmp $$d/dice.tsv; \
		printf '%s\t%s\n' "$$c" "$$($(MEAN_DICE) $$d/dice.tsv)"; \
	done | tee $(OUT)/ensemble/folds.tsv

# Zoomed test-time augmentation: each fold's validation case predicted by
# each run of ENSEMBLE_RUNS alone and by all of them, with UNET_PREDICT and
# --tta-zoom Z for each Z of ZOOM_SETS (factors the net's input takes: the
# recipe's U-Net wants multiples of 8); one TSV row per fold, run and set
# (mean and minimum per-frame Dice), OUT/zoom.tsv.
ZOOM_SETS ?= 1 1,1.25 0.875,1,1.125 0.75,1,1.25 1,1.25,1.5
zoom:
	@[ -n "$(CASES)" ] || { echo "lab.mk: $(SRC): no labelled cases found" >&2; exit 1; }
	{ printf 'fold\trun\tzoom\tdice_mean\tdice_min\n'; \
	for c in $(CASES); do \
		for r in $(ENSEMBLE_RUNS) ensemble; do \
			if [ $$r = ensemble ]; then m="$(foreach r,$(ENSEMBLE_RUNS),-m $(r)/cv/$$c/model.fcn)"; \
			else m="-m $$r/cv/$$c/model.fcn"; fi; \
			for z in $(ZOOM_SETS); do \
				fcn-predict $$m $(UNET_PREDICT) --tta-zoom $$z --threads $(THREADS) \
					$(firstword $(ENSEMBLE_RUNS))/cv/$$c/data/val.ts | dice-score | \
					awk -F'\t' -v c=$$c -v r=$${r#$(OUT)/} -v z=$$z \
						'$$1 == "1" {printf "%s\t%s\t%s\t%s\t%s\n", c, r, z, $$3, $$5}'; \
			done; \
		done; \
	done; } > $(OUT)/zoom.tsv.tmp
	mv $(OUT)/zoom.tsv.tmp $(OUT)/zoom.tsv
	cat $(OUT)/zoom.tsv

# A wider net trained longer: cv with the recipe's net at twice the
# channels (32, 64, 128, 256: OUT/nets/unet32.prototxt) for WIDE_EPOCHS
# epochs, each of WIDE_SEEDS, in OUT/wide/eWIDE_EPOCHS/seedN.
WIDE_EPOCHS ?= 100
WIDE_SEEDS ?= 1 2 3
wide: $(SRC_STAMP) $(OUT)/nets/unet32.prototxt
	for s in $(WIDE_SEEDS); do \
		$(MAKE) -f $(ROOT)/pipelines/lab.mk cv OUT=$(OUT)/wide/e$(WIDE_EPOCHS)/seed$$s SEED=$$s \
			DATA=$(DATA) PHANTOM="$(PHANTOM)" UNET_NET=$(abspath $(OUT)/nets/unet32.prototxt) \
			UNET_EPOCHS=$(WIDE_EPOCHS); \
	done

# Self-training on the unlabelled cine frames (Bai et al. 2017): for each
# of PSEUDO_SEEDS, each fold's model of strong (the teacher, trained again
# when missing) labels every unlabelled frame of the fold's training cases
# (fcn-predict --pseudo-label with UNET_PREDICT; the expert's frames keep
# their labels, the validation case is never seen), and a student is
# trained from scratch by the recipe on the lot, on at least as many
# augmented records as the recipe (epochs over the whole pool:
# ceil(UNET_EPOCHS x labelled / all)); OUT/pseudo/seedN/cv/CASE.
PSEUDO_SEEDS ?= 1 2 3
pseudo: $(SRC_STAMP)
	for s in $(PSEUDO_SEEDS); do \
		$(MAKE) -f $(ROOT)/pipelines/lab.mk cv OUT=$(OUT)/strong/seed$$s SEED=$$s DATA=$(DATA) \
			PHANTOM="$(PHANTOM)" && \
		$(MAKE) -f $(ROOT)/pipelines/lab.mk pseudo-cv OUT=$(OUT) SEED=$$s DATA=$(DATA) \
			PHANTOM="$(PHANTOM)"; \
	done
PSEUDO_OUT = $(OUT)/pseudo/seed$(SEED)/cv
pseudo-cv: $(SRC_STAMP)
	@[ -n "$(CASES)" ] || { echo "lab.mk: $(SRC): no labelled cases found" >&2; exit 1; }
	$(MAKE) -f $(ROOT)/pipelines/lab.mk $(foreach c,$(CASES),$(PSEUDO_OUT)/$(c)/dice.tsv)
	@for c in $(CASES); do \
		printf '%s\t%s\n' "$$c" "$$($(MEAN_DICE) $(PSEUDO_OUT)/$$c/dice.tsv)"; \
	done | tee $(PSEUDO_OUT)/folds.tsv
$(PSEUDO_OUT)/%/data/train.ts: $(OUT)/strong/seed$(SEED)/cv/%/model.fcn
	rm -rf $(PSEUDO_OUT)/$*/all && mkdir -p $(PSEUDO_OUT)/$*/data
	$(ROOT)/pipelines/dataset.sh -q --all-frames --val-cases $* $(SRC) $(PSEUDO_OUT)/$*/all
	echo "fcn-predict -m $< --pseudo-label $(UNET_PREDICT) --threads $(THREADS) $(PSEUDO_OUT)/$*/all/train.ts > $@" \
		> $(PSEUDO_OUT)/$*/pseudo-cmd.sh
	fcn-predict -m $< --pseudo-label $(UNET_PREDICT) --threads $(THREADS) \
		$(PSEUDO_OUT)/$*/all/train.ts > $@.tmp
	rm -rf $(PSEUDO_OUT)/$*/all
	mv $@.tmp $@
$(PSEUDO_OUT)/%/dice.tsv: $(PSEUDO_OUT)/%/data/train.ts $(UNET_NET)
	cp $(OUT)/strong/seed$(SEED)/cv/$*/data/val.ts $(PSEUDO_OUT)/$*/data/val.ts
	lab=$$(tensor-info -s --json $(OUT)/strong/seed$(SEED)/cv/$*/data/train.ts | $(RECORDS)); \
	all=$$(tensor-info -s --json $< | $(RECORDS)); \
	k=$$(( ($(UNET_EPOCHS) * lab + all - 1) / all )); \
	$(call recipe,$(PSEUDO_OUT)/$*,$<,$(PSEUDO_OUT)/$*/data/val.ts,$$k)

# Weight averaging: cv again with fcn-train --ema EMA for each of
# EMA_SEEDS, in OUT/ema/seedN.  The raw training is unchanged by --ema, so
# each fold pairs with the same seed's fold of cv or seeds.
EMA ?= 0.99
EMA_SEEDS ?= 1 2 3
ema: $(SRC_STAMP)
	for s in $(EMA_SEEDS); do \
		$(MAKE) -f $(ROOT)/pipelines/lab.mk cv OUT=$(OUT)/ema/seed$$s SEED=$$s DATA=$(DATA) \
			PHANTOM="$(PHANTOM)" UNET_EXTRA="$(UNET_EXTRA) --ema $(EMA)"; \
	done

# Longer training: cv again with UNET_EPOCHS=LONG_EPOCHS (seed SEED), in
# OUT/epochsN, beside cv's folds (the 15-minute budget per fold allows it).
LONG_EPOCHS ?= 100
longer: $(SRC_STAMP)
	$(MAKE) -f $(ROOT)/pipelines/lab.mk cv OUT=$(OUT)/epochs$(LONG_EPOCHS) DATA=$(DATA) \
		PHANTOM="$(PHANTOM)" UNET_EPOCHS=$(LONG_EPOCHS)

# What each part of the recipe gives: cv without it, in OUT/ablate/NAME
# (no-aug: centre crops only; ce-only: cross-entropy without the Dice
# term; batch-dice: the soft Dice over the batch instead of per image;
# no-norm: the net without its MVN input layer, a fixed 1/500 scale;
# no-ds: the U-Net without its deep-supervision heads).
ABLATE = $(MAKE) -f $(ROOT)/pipelines/lab.mk cv DATA=$(DATA) PHANTOM="$(PHANTOM)"
ablate: $(SRC_STAMP)
	$(ABLATE) OUT=$(OUT)/ablate/no-aug UNET_AUG="--center-crop $(CROP)"
	$(ABLATE) OUT=$(OUT)/ablate/ce-only UNET_LOSS="--loss softmax"
	$(ABLATE) OUT=$(OUT)/ablate/batch-dice UNET_LOSS="--loss softmax+dice --dice-over batch"
	$(MAKE) -f $(ROOT)/pipelines/lab.mk OUT=$(OUT)/ablate/no-norm $(OUT)/ablate/no-norm/nets/unet-nomvn.prototxt
	$(ABLATE) OUT=$(OUT)/ablate/no-norm UNET_NET=$(OUT)/ablate/no-norm/nets/unet-nomvn.prototxt \
		UNET_EXTRA="--scale 0.002"
	$(ABLATE) OUT=$(OUT)/ablate/no-ds UNET_NET=$(UNET_BASE)

# Every fold of cv, seeds, ema, longer and ablate predicted again with the
# present UNET_PREDICT (models unchanged; cmd.sh says so).
repredict:
	$(ROOT)/pipelines/lab-repredict.sh --predict "$(UNET_PREDICT)" \
		$(sort $(dir $(wildcard $(OUT)/cv/*/model.fcn $(OUT)/seed*/cv/*/model.fcn \
			$(OUT)/ema/seed*/cv/*/model.fcn $(OUT)/epochs*/cv/*/model.fcn \
			$(OUT)/ablate/*/cv/*/model.fcn)))

# What post-processing and flip TTA give, on every fold model of cv and
# seeds: OUT/postproc.tsv.
postproc:
	$(ROOT)/pipelines/lab-postproc.sh $(sort $(dir $(wildcard $(OUT)/cv/*/model.fcn $(OUT)/seed*/cv/*/model.fcn))) > $(OUT)/postproc.tsv.tmp
	mv $(OUT)/postproc.tsv.tmp $(OUT)/postproc.tsv
	cat $(OUT)/postproc.tsv

# The peer: PyTorch 2.x from PyPI in bench/peers.sh's venv when it is there,
# else Debian's PyTorch.  Same folds, PEER_EPOCHS epochs, seed SEED.
PEER_PYTHON ?= $(firstword $(wildcard $(ROOT)/build/peers/bin/python) /usr/bin/python3)
PEER_EPOCHS ?= 40
peer-cv: $(SRC_STAMP)
	@[ -n "$(CASES)" ] || { echo "lab.mk: $(SRC): no labelled cases found" >&2; exit 1; }
	$(MAKE) -f $(ROOT)/pipelines/lab.mk $(foreach c,$(CASES),$(OUT)/peer/$(c).tsv)
$(OUT)/peer/%.tsv: $(SRC_STAMP)
	mkdir -p $(OUT)/peer
	[ -f $(OUT)/cv/$*/data/val.ts ] || \
		$(ROOT)/pipelines/dataset.sh -q --val-cases $* $(SRC) $(OUT)/cv/$*/data
	echo "$(PEER_PYTHON) $(ROOT)/bench/unet_recipe_torch.py $(OUT)/cv/$*/data/train.ts $(OUT)/cv/$*/data/val.ts $(PEER_EPOCHS) $(SEED) $(THREADS)" > $@.cmd
	$(PEER_PYTHON) $(ROOT)/bench/unet_recipe_torch.py $(OUT)/cv/$*/data/train.ts \
		$(OUT)/cv/$*/data/val.ts $(PEER_EPOCHS) $(SEED) $(THREADS) > $@.tmp
	mv $@.tmp $@

best: $(OUT)/model.fcn
$(OUT)/model.fcn: $(D)/all.ts $(UNET_NET)
	n=$$(tensor-info -s --json $(D)/all.ts | $(RECORDS)); \
	t0=$$(date +%s.%N); \
	augment --seed $(SEED) --epochs $(UNET_EPOCHS) $(UNET_AUG) $(D)/all.ts | \
		fcn-train --net $(UNET_NET) --train - --epoch-size $$n \
			$(UNET_TRAIN) $(COMMON) -o $@ > $(OUT)/best.tsv; \
	awk -v a="$$t0" -v b="$$(date +%s.%N)" 'BEGIN {printf "wall_s\t%.1f\n", b - a}' > $(OUT)/best-time.txt

results:
	$(ROOT)/pipelines/lab-results.sh $(OUT) > $(RESULTS).tmp
	mv $(RESULTS).tmp $(RESULTS)
