# pipelines/split.mk - one sampling run split into seed ranges that run in
# parallel (here make -j jobs; on a cluster one job array task each), then
# joined into one grid and one video.  Because dm-noise --first-index and
# dm-denoise key every random number by the global sample index, the joined
# stream is byte for byte the stream of a single run: `check` proves it.
#
#   make -f pipelines/split.mk -j4                    # the analytic model: needs nothing
#   make -f pipelines/split.mk -j4 MODEL=out/fashion-mnist/model.dmt
#
# Outputs in $(OUT): part0..3.dm, all.dm (dm-paste of the parts, the whole
# trajectory), grid.png (the final samples), denoise.mp4, check.txt.

BUILD   ?= build
BIN     := $(BUILD)/bin
OUT     ?= out/split
MODEL   ?= gaussian:0:0.5
SHAPE   ?= 1x28x28
PER     ?= 16
RANGES  ?= 0 1 2 3
SEED    ?= 7
SAMPLER ?= --sampler ddim --steps 50
EVERY   ?= 2
GRID    ?= 8x8
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

all: $(OUT)/grid.png $(OUT)/denoise.mp4 $(OUT)/check.txt
.PHONY: all

# One range: samples PER*i .. PER*i+PER-1 of the run, one thread each.
$(OUT)/part%.dm: $(BIN)/dm-noise $(BIN)/dm-denoise | $(OUT)/.dir
	$(BIN)/dm-noise --prior --shape $(PER)x$(SHAPE) --first-index $$(( $* * $(PER) )) --seed $(SEED) \
	  | $(BIN)/dm-denoise -m $(MODEL) $(SAMPLER) --every $(EVERY) --seed $(SEED) -j1 -o $@

$(OUT)/all.dm: $(RANGES:%=$(OUT)/part%.dm) $(BIN)/dm-paste
	$(BIN)/dm-paste -o $@ $(RANGES:%=$(OUT)/part%.dm)

$(OUT)/grid.png: $(OUT)/all.dm $(BIN)/dm-encode
	$(BIN)/dm-encode --last --grid $(GRID) --scale 3 -o $@ $<

$(OUT)/denoise.mp4: $(OUT)/all.dm $(BIN)/dm-encode
	$(BIN)/dm-encode --grid $(GRID) --scale 3 --caption --fps 12 --hold-last 2 -o $@ $<

# The same run in one piece, and the proof that the joined ranges equal it.
$(OUT)/whole.dm: $(BIN)/dm-noise $(BIN)/dm-denoise | $(OUT)/.dir
	$(BIN)/dm-noise --prior --shape $$(( $(words $(RANGES)) * $(PER) ))x$(SHAPE) --seed $(SEED) \
	  | $(BIN)/dm-denoise -m $(MODEL) $(SAMPLER) --every $(EVERY) --seed $(SEED) -o $@

$(OUT)/check.txt: $(OUT)/all.dm $(OUT)/whole.dm
	cmp $^ && echo "$(words $(RANGES)) ranges of $(PER), joined: byte for byte one run of $$(( $(words $(RANGES)) * $(PER) ))" | tee $@
