# pipelines/moving-fmnist.mk - a video diffusion model: unet3d-s (the
# space-time factorised U-Net, dm-train(1)) on toy:moving-fmnist clips
# (1 x 8 x 32 x 32: Fashion-MNIST items bouncing in a canvas), sampled with
# DDIM, played as a video and measured.
#
#   make -f pipelines/moving-fmnist.mk [BUILD=build] [OUT=out/moving-fmnist] [STEPS=6000]
#   make -f pipelines/moving-fmnist.mk STEPS=20 N_EVAL=8 DDIM_STEPS=5   # a smoke test
#
# Training is long (hours on 2 cores at the default STEPS); a re-run resumes
# from $(OUT)/train.dmt.  Outputs in $(OUT)/:
#   model.dmt      the checkpoint after STEPS steps
#   train.csv      the training log
#   samples.mp4    SAMPLES generated clips side by side (DDIM, DDIM_STEPS)
#   denoise.mp4    the same clips while they denoise (every DDIM step, each
#                  step's clips played once)
#   score.txt      per-frame Frechet distance (pixels) of N_EVAL generated
#                  clips to N_EVAL data clips beside two data draws' floor,
#                  and the mean frame-to-frame change against the data's

BUILD      ?= build
OUT        ?= out/moving-fmnist
STEPS      ?= 6000
BATCH      ?= 16
LR         ?= 1e-3
SAVE_EVERY ?= 500
SCHEDULE   ?= cosine
THREADS    ?= 0
DDIM_STEPS ?= 50
SAMPLES    ?= 16
N_EVAL     ?= 64
SEED       ?= 7
SHAPE      := 1x8x32x32

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk
.SECONDARY:
J := --threads $(THREADS)

all: $(addprefix $(OUT)/,samples.mp4 denoise.mp4 score.txt)
.PHONY: all

TRAIN_OPTS  = unet3d-s steps=$(STEPS) batch=$(BATCH) lr=$(LR) schedule=$(SCHEDULE)
TRAIN_INPUT = $(BIN)/dm-load toy:moving-fmnist --n 20000 --batch $(BATCH) --shuffle --epochs 0 --seed 1 \
	  | $(BIN)/dm-noise --train --schedule $(SCHEDULE) --seed 2 -j1
TRAIN_NEW   = --model unet3d-s --batch $(BATCH) --lr $(LR)
TRAIN_ALL   = $(J) --save-every $(SAVE_EVERY)
$(OUT)/train.opts: FORCE | $(OUT)/.dir
	$(dm_train_opts)
FORCE:
.PHONY: FORCE
$(OUT)/model.dmt: $(OUT)/train.opts $(BIN)/dm-load $(BIN)/dm-noise $(BIN)/dm-train
	$(dm_train)

# The DDIM trajectory of SAMPLES clips, every step kept.
$(OUT)/ddim.dm: $(OUT)/model.dmt $(BIN)/dm-noise $(BIN)/dm-denoise
	$(BIN)/dm-noise --prior --shape $(SAMPLES)x$(SHAPE) --seed $(SEED) --schedule $(SCHEDULE) \
	  | $(BIN)/dm-denoise -m $< --sampler ddim --steps $(DDIM_STEPS) --every 1 $(J) -o $@
$(OUT)/samples.mp4: $(OUT)/ddim.dm $(BIN)/dm-encode
	$(BIN)/dm-encode --last --scale 3 --gap 3 --fps 8 -o $@ $<
$(OUT)/denoise.mp4: $(OUT)/ddim.dm $(BIN)/dm-encode
	$(BIN)/dm-encode --scale 3 --gap 3 --fps 24 --hold-last 2 -o $@ $<

# The figures: N_EVAL generated clips against N_EVAL data clips (seed 3),
# and a second data draw (seed 4) for the floor.
$(OUT)/eval.dm: $(OUT)/model.dmt $(BIN)/dm-noise $(BIN)/dm-denoise
	$(BIN)/dm-noise --prior --shape $(N_EVAL)x$(SHAPE) --seed 11 --schedule $(SCHEDULE) \
	  | $(BIN)/dm-denoise -m $< --sampler ddim --steps $(DDIM_STEPS) $(J) -o $@
$(OUT)/data%.dm: $(BIN)/dm-load | $(OUT)/.dir
	$(BIN)/dm-load toy:moving-fmnist --n $(N_EVAL) --seed $* -o $@
$(OUT)/score.txt: $(OUT)/eval.dm $(OUT)/data3.dm $(OUT)/data4.dm $(BIN)/dm-score
	{ echo "per-frame FD (pixels), $(N_EVAL) clips of $(SHAPE):"; \
	  $(BIN)/dm-score --frames --fd $(OUT)/eval.dm $(OUT)/data3.dm --floor $(OUT)/data4.dm; \
	  echo "frame-to-frame change, generated vs data (and two data draws):"; \
	  $(BIN)/dm-score --temporal $(OUT)/eval.dm $(OUT)/data3.dm; \
	  $(BIN)/dm-score --temporal $(OUT)/data4.dm $(OUT)/data3.dm; } >$@.tmp
	mv $@.tmp $@
	cat $@
