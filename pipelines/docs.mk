# pipelines/docs.mk - the small pictures under docs/ that README.md shows,
# made from the outputs of `make demo`, pipelines/toy2d.mk and
# pipelines/forward.mk (run those first, with the same BUILD; `make docs`
# runs all of it), and with the target fmnist from pipelines/fashion-mnist.mk
# (`make docs-fmnist`).
#
#   make -f pipelines/docs.mk [BUILD=build] [OUTS=out] [DOCS=docs] [all|fmnist]
#
# OUTS and DOCS let the shell test run it on tiny outputs in a scratch folder.

BUILD ?= build
OUTS  ?= out
DOCS  ?= docs
$(shell mkdir -p $(DOCS))
BIN   := $(BUILD)/bin
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:
.SUFFIXES:
TOYS  := swissroll moons 8gaussians checkerboard circles
SMALL := --scatter --xlim -5:5 --ylim -5:5 --size 256x256 --caption --fps 12

all: $(DOCS)/swissroll-reverse.gif $(DOCS)/swissroll-forward.gif $(DOCS)/forward-schedules.png \
     $(DOCS)/toy2d-samples.png $(DOCS)/swissroll-reverse.png $(DOCS)/toy2d-loss.png \
     $(DOCS)/swissroll-training.gif $(DOCS)/swissroll-check.txt clips
# Clips and volumes as dm-load makes them (no model): 16 moving Fashion-MNIST
# clips side by side, and 6 slices of one phantom volume.
clips: $(DOCS)/moving-fmnist.gif $(DOCS)/phantom-slices.png
FM := $(OUTS)/fashion-mnist
fmnist: $(DOCS)/fmnist-ddpm1000.png $(DOCS)/fmnist-ddim50.png $(DOCS)/fmnist-dpmpp20.png \
     $(DOCS)/fmnist-ddpm.gif $(DOCS)/fmnist-inpaint.png $(DOCS)/fmnist-restore.png \
     $(DOCS)/fmnist-restore-dps.png
.PHONY: all fmnist clips

$(DOCS)/moving-fmnist.gif:
	$(BIN)/dm-load toy:moving-fmnist --n 16 --frames 16 --seed 1 | $(BIN)/dm-encode --scale 2 --gap 2 --fps 8 -o $@
$(DOCS)/phantom-slices.png:
	rm -rf $@.d && mkdir $@.d
	$(BIN)/dm-load toy:phantom --n 1 --frames 36 --size 64x64 --seed 2 | $(BIN)/dm-encode -o $@.d/%02d.png
	$(BIN)/dm-load $(foreach z,05 10 15 20 25 30,$@.d/$(z).png) --batch 6 | $(BIN)/dm-encode --grid 1x6 --gap 4 -o $@
	rm -rf $@.d

$(DOCS)/swissroll-reverse.gif: $(OUTS)/demo/reverse.dm
	$(BIN)/dm-encode $(SMALL) --hold-last 2 -o $@ $<
$(DOCS)/swissroll-forward.gif: $(OUTS)/demo/true.dm
	$(BIN)/dm-load toy:swissroll --scale 2.5 --n 2000 | $(BIN)/dm-noise --t 0:1000:25 --seed 4 -j1 \
	  | $(BIN)/dm-encode $(SMALL) --hold-last 1 -o $@
$(DOCS)/forward-schedules.png: $(OUTS)/forward/fmnist-schedules.png
	cp $< $@
# The final samples of every toy set in a row: one scatter PNG per set
# (the last frame of its trajectory), read back by dm-load as RGB images.
$(DOCS)/toy2d-samples.png: $(TOYS:%=$(OUTS)/toy2d/%-reverse.dm)
	rm -rf $@.d && mkdir $@.d
	for t in $(TOYS); do \
	  $(BIN)/dm-encode --scatter --xlim -6:6 --ylim -6:6 --size 192x192 \
	    -o $@.d/$$t-%04d.png $(OUTS)/toy2d/$$t-reverse.dm; \
	  mv $@.d/$$(ls $@.d | grep "^$$t-" | tail -n 1) $@.d/$$t.png; rm -f $@.d/$$t-*.png; done
	$(BIN)/dm-load $(TOYS:%=$@.d/%.png) --batch 5 | $(BIN)/dm-encode --grid 1x5 --gap 4 -o $@
	rm -rf $@.d

# Four states of the demo's reverse trajectory in a row: the prior, two
# intermediate steps and the samples.
$(DOCS)/swissroll-reverse.png: $(OUTS)/demo/reverse.dm
	rm -rf $@.d && mkdir $@.d
	$(BIN)/dm-encode --scatter --xlim -5:5 --ylim -5:5 --size 192x192 -o $@.d/%04d.png $<
	n=$$(ls $@.d | wc -l); \
	  $(BIN)/dm-load $$(ls $@.d/*.png | sed -n "1p;$$((n * 3 / 4))p;$$((n * 9 / 10))p;$${n}p") --batch 4 \
	  | $(BIN)/dm-encode --grid 1x4 --gap 4 -o $@
	rm -rf $@.d

# Watching toy2d's runs: the loss of every set, the swiss roll's samples
# over training (dm-train --sample-every), and dm-info --check of its model.
$(DOCS)/toy2d-loss.png: $(OUTS)/toy2d/loss.png
	cp $< $@
$(DOCS)/swissroll-training.gif: $(OUTS)/toy2d/swissroll-training.gif
	cp $< $@
$(DOCS)/swissroll-check.txt: $(OUTS)/toy2d/swissroll-check.txt
	cp $< $@

# Fashion-MNIST (pipelines/fashion-mnist.mk's outputs, as they are).
$(DOCS)/fmnist-ddpm1000.png: $(FM)/ddpm-grid.png
	cp $< $@
$(DOCS)/fmnist-ddim50.png: $(FM)/ddim-grid.png
	cp $< $@
$(DOCS)/fmnist-dpmpp20.png: $(FM)/dpmpp-grid.png
	cp $< $@
$(DOCS)/fmnist-ddpm.gif: $(FM)/denoise.gif
	cp $< $@
$(DOCS)/fmnist-inpaint.png: $(FM)/inpaint.png
	cp $< $@
$(DOCS)/fmnist-restore.png: $(FM)/restore.png
	cp $< $@
$(DOCS)/fmnist-restore-dps.png: $(FM)/restore-dps.png
	cp $< $@
