# pipelines/toy2d.mk - every built-in 2-D toy set: train mlp-2d, sample,
# GIFs of the forward and the reverse process, and a sliced-Wasserstein
# score of the samples against fresh true samples beside the floor of two
# true sample sets.
#
#   make -j2 -f pipelines/toy2d.mk [BUILD=build] [OUT=out/toy2d] [STEPS=4000]
#   (or `make toy2d` at the top level, which builds the tools first)
#
# Outputs in $(OUT)/: NAME.dmt (checkpoint), NAME-forward.gif,
# NAME-reverse.gif, NAME-samples.png (the final samples), and scores.txt;
# watching the training: NAME-train.csv (dm-train's log), NAME-loss.png
# (its loss), NAME-training.gif (DDIM-20 samples of the same seeds every
# WATCH_EVERY steps), NAME-watch.txt (their cost and the sliced W2 to a
# held-out set every EVAL_EVERY steps), loss.png (every set's loss on one
# chart) and NAME-check.txt (dm-info --check of the model on held-out data).
# Every file is a real target, so a re-run with nothing changed does
# nothing and a change to a tool or to this file redoes what depends on it.
# Under two minutes with -j2 on 2 cores (one thread per tool; make runs two
# toy sets at a time).

BUILD ?= build
OUT   ?= out/toy2d
TOYS  ?= swissroll moons 8gaussians checkerboard circles
# The toy sets lie in about [-1.3, 1.3]; under the linear schedule their
# fine structure (the swiss roll's arms) drowns by t = 100 and a small
# network learns only a blob.  Scaled by SCALE (std about 2.5) they train
# well.  A fixed factor, not dm-load --range: that maps each draw's own
# min..max, which differs between seeds and would bias the scores.
SCALE ?= 4
TOYN  ?= 10000
# Training: MODELS.md's mlp-2d with dm-train's defaults (lr 2e-3, batch
# 256, EMA 0.999; dm-train(1) DEFAULTS has the measurements).  Half the
# width (HIDDEN=128) with cosine decay left circles at 2.2x its floor.
STEPS  ?= 4000
HIDDEN ?= 256
# Sampling: DDPM respaced to SAMPLE_STEPS, a frame every EVERY steps.
N            ?= 2000
SAMPLE_STEPS ?= 200
EVERY        ?= 4
# Watching: WATCH_N samples drawn every WATCH_EVERY steps (9% of the
# training time at the defaults, measured with the figures: 500 x 20
# network evaluations against 250 x 256 x 3 for the steps between), the
# figure every EVAL_EVERY.
WATCH_EVERY ?= 250
WATCH_N     ?= 500
EVAL_EVERY  ?= 1000
# Forward process: t = 0, FWD_EVERY, ... < 1000.
FWD_EVERY ?= 20
LIM   ?= -6:6
ENC   ?= --scatter --xlim $(LIM) --ylim $(LIM) --size 384x384 --point 1 --caption --fps 12

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk
.SECONDARY:

GIFS   := $(foreach t,$(TOYS),$(OUT)/$(t)-forward.gif $(OUT)/$(t)-reverse.gif $(OUT)/$(t)-samples.png)
SCORES := $(TOYS:%=$(OUT)/%-score.txt)
THIS   := pipelines/toy2d.mk

WATCH  := $(foreach t,$(TOYS),$(OUT)/$(t)-loss.png $(OUT)/$(t)-check.txt $(OUT)/$(t)-training.gif) $(OUT)/loss.png

all: $(GIFS) $(OUT)/scores.txt $(WATCH)
.PHONY: all

# The training stream is endless (--epochs 0); dm-train stops at STEPS and
# the tools upstream exit quietly on the closed pipe.  (Its stderr, not a
# terminal, has no progress line: only the watching lines.)
$(OUT)/%.dmt $(OUT)/%-train.csv $(OUT)/%-training.gif $(OUT)/%-watch.txt: $(OUT)/%-s0.csv $(OUT)/%-true2.dm \
    $(BIN)/dm-load $(BIN)/dm-noise $(BIN)/dm-train $(THIS) | $(OUT)/.dir
	@echo "toy2d: training mlp on toy:$* ($(STEPS) steps)"
	$(BIN)/dm-load $(OUT)/$*-s0.csv --batch 256 --shuffle --epochs 0 \
	  | $(BIN)/dm-noise --train --seed 1 -j1 \
	  | $(BIN)/dm-train --model mlp-2d --hidden $(HIDDEN) --steps $(STEPS) --threads 1 -o $(OUT)/$*.dmt \
	      --log $(OUT)/$*-train.csv --sample-every $(WATCH_EVERY) --sample-n $(WATCH_N) \
	      --sample-lim $(LIM) --sample-out $(OUT)/$*-training.gif \
	      --eval-every $(EVAL_EVERY) --eval-data $(OUT)/$*-true2.dm 2>$(OUT)/$*-watch.txt

$(OUT)/%-loss.png: $(OUT)/%-train.csv $(BIN)/dm-plot
	$(BIN)/dm-plot --log-y --smooth 0.98 --title "toy:$* mlp-2d" -o $@ $<
$(OUT)/loss.png: $(TOYS:%=$(OUT)/%-train.csv) $(BIN)/dm-plot
	$(BIN)/dm-plot --log-y --smooth 0.98 --title "mlp-2d on the toy sets" \
	  --labels $(subst $(eval) ,$(comma),$(TOYS)) -o $@ $(TOYS:%=$(OUT)/%-train.csv)
comma := ,

# Why samples would look like noise, asked of the trained model.
$(OUT)/%-check.txt: $(OUT)/%.dmt $(OUT)/%-true1.dm $(BIN)/dm-info
	$(BIN)/dm-info --check $< $(OUT)/$*-true1.dm >$@

# The reverse trajectory: prior, every EVERY-th state, then the final samples.
$(OUT)/%-reverse.dm: $(OUT)/%.dmt $(BIN)/dm-noise $(BIN)/dm-denoise
	$(BIN)/dm-noise --prior --shape $(N)x2 --seed 5 -j1 \
	  | $(BIN)/dm-denoise -m $< --sampler ddpm --steps $(SAMPLE_STEPS) --every $(EVERY) -j1 -o $@

$(OUT)/%-reverse.gif: $(OUT)/%-reverse.dm $(BIN)/dm-encode
	$(BIN)/dm-encode $(ENC) --hold-last 2 -o $@ $<

$(OUT)/%-forward.gif: $(OUT)/%-s3.csv $(BIN)/dm-load $(BIN)/dm-noise $(BIN)/dm-encode $(THIS) | $(OUT)/.dir
	$(BIN)/dm-load $(OUT)/$*-s3.csv \
	  | $(BIN)/dm-noise --t 0:1000:$(FWD_EVERY) --seed 4 -j1 \
	  | $(BIN)/dm-encode $(ENC) --hold-last 1 -o $@

# The last frame of the trajectory (the samples) as a still picture.
$(OUT)/%-samples.png: $(OUT)/%-reverse.dm $(BIN)/dm-encode
	$(BIN)/dm-encode --scatter --xlim $(LIM) --ylim $(LIM) --size 384x384 \
	  -o $(OUT)/$*-frame%04d.png $< && mv $$(ls $(OUT)/$*-frame*.png | tail -n 1) $@ \
	  && rm -f $(OUT)/$*-frame*.png

# Toy points, scaled: NAME-sSEED.csv (TOYN points for training, N else).
$(OUT)/%.csv: $(BIN)/dm-load $(BIN)/dm-encode $(THIS) | $(OUT)/.dir
	$(BIN)/dm-load toy:$(firstword $(subst -s, ,$*)) --seed $(lastword $(subst -s, ,$*)) \
	    --n $(if $(filter %-s0,$*),$(TOYN),$(N)) --scale $(SCALE) \
	  | $(BIN)/dm-encode -f csv >$@

$(OUT)/%-true1.dm: $(OUT)/%-s11.csv $(BIN)/dm-load
	$(BIN)/dm-load $< -o $@
$(OUT)/%-true2.dm: $(OUT)/%-s12.csv $(BIN)/dm-load
	$(BIN)/dm-load $< -o $@

# One row: set, floor (two true sets), model (samples vs true set 1), and
# model / floor.
$(OUT)/%-score.txt: $(OUT)/%-reverse.dm $(OUT)/%-true1.dm $(OUT)/%-true2.dm $(BIN)/dm-score
	f=$$($(BIN)/dm-score $(OUT)/$*-true1.dm $(OUT)/$*-true2.dm); \
	  m=$$($(BIN)/dm-score --last $(OUT)/$*-reverse.dm $(OUT)/$*-true1.dm); \
	  printf '%-14s %8s %8s %6s\n' $* $$f $$m $$(awk -v m=$$m -v f=$$f 'BEGIN { printf "%.2f", m / f }') >$@

# MAXRATIO=2 (make bench BENCH=quality sets it) fails the run when a set's
# samples are farther than MAXRATIO x its floor.
MAXRATIO ?=
$(OUT)/scores.txt: $(SCORES)
	{ echo "# sliced W2 (200 directions), $(N) points; floor = two independent true sets"; \
	  printf '%-14s %8s %8s %6s\n' set floor model ratio; cat $^; } >$@
	@cat $@
	@if [ -n "$(MAXRATIO)" ]; then awk -v max=$(MAXRATIO) '!/^#/ && $$1 != "set" && $$4 > max \
	  { print "toy2d: " $$1 " is at " $$4 "x its floor (bound " max ")"; bad = 1 } END { exit bad }' $@ \
	  || { rm -f $@; exit 1; }; fi
