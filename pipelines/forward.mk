# pipelines/forward.mk - pictures and videos of the forward process
# q(x_t | x_0) under each discrete noise schedule, on Fashion-MNIST and on
# the swiss roll.  No training: seconds.
#
#   make -j2 -f pipelines/forward.mk [BUILD=build] [OUT=out/forward]
#   (or `make forward` at the top level, which builds the tools first)
#
# Outputs in $(OUT)/:
#   fmnist-schedules.png   one image at t = 0, 50, 100, 200, ..., 999, a row
#                          per schedule (rows in the order of SCHEDULES)
#   fmnist-NAME.mp4        64 images noised under NAME, t = 0..999 step 10
#   fmnist-NAME.gif        16 images, t step 20 (smaller, for web pages)
#   swissroll-NAME.gif     the swiss roll (scaled by 2.5) dissolving
# Every file is a real target: a re-run with nothing changed does nothing.

BUILD     ?= build
OUT       ?= out/forward
SCHEDULES ?= linear scaled-linear cosine sigmoid
STRIP_T   ?= 0,50,100,200,300,400,500,600,700,800,999

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk
.SECONDARY:
THIS := pipelines/forward.mk
comma := ,
NSTRIP := $(words $(subst $(comma), ,$(STRIP_T)))

all: $(OUT)/fmnist-schedules.png $(SCHEDULES:%=$(OUT)/fmnist-%.mp4) \
     $(SCHEDULES:%=$(OUT)/fmnist-%.gif) $(SCHEDULES:%=$(OUT)/swissroll-%.gif)
.PHONY: all

# One image (the first of the training set), one frame per t; dm-encode
# -f npy concatenates the frames into one array of NSTRIP images.
$(OUT)/strip-%.npy: $(BIN)/dm-load $(BIN)/dm-noise $(BIN)/dm-encode $(THIS) | $(OUT)/.dir
	$(BIN)/dm-load fashion-mnist:train --limit 1 \
	  | $(BIN)/dm-noise --t $(STRIP_T) --schedule $* --seed 1 -j1 \
	  | $(BIN)/dm-encode -f npy -o $@

# dm-load concatenates the strips: a grid with a row per schedule.
$(OUT)/fmnist-schedules.png: $(SCHEDULES:%=$(OUT)/strip-%.npy) $(BIN)/dm-load $(BIN)/dm-encode
	$(BIN)/dm-load $(SCHEDULES:%=$(OUT)/strip-%.npy) --batch 1000 \
	  | $(BIN)/dm-encode --grid $(words $(SCHEDULES))x$(NSTRIP) --scale 2 --gap 2 -o $@

$(OUT)/fmnist-%.mp4: $(BIN)/dm-load $(BIN)/dm-noise $(BIN)/dm-encode $(THIS) | $(OUT)/.dir
	$(BIN)/dm-load fashion-mnist:train --limit 64 --batch 64 \
	  | $(BIN)/dm-noise --t 0:1000:10 --schedule $* --seed 1 -j1 \
	  | $(BIN)/dm-encode --grid 8x8 --scale 2 --gap 2 --caption --fps 20 --hold-last 1 -o $@

$(OUT)/fmnist-%.gif: $(BIN)/dm-load $(BIN)/dm-noise $(BIN)/dm-encode $(THIS) | $(OUT)/.dir
	$(BIN)/dm-load fashion-mnist:train --limit 16 --batch 16 \
	  | $(BIN)/dm-noise --t 0:1000:20 --schedule $* --seed 1 -j1 \
	  | $(BIN)/dm-encode --grid 4x4 --scale 2 --gap 2 --caption --fps 12 --hold-last 1 -o $@

$(OUT)/swissroll.csv: $(BIN)/dm-load $(BIN)/dm-encode $(THIS) | $(OUT)/.dir
	$(BIN)/dm-load toy:swissroll --n 2000 --seed 3 --scale 2.5 | $(BIN)/dm-encode -f csv >$@

$(OUT)/swissroll-%.gif: $(OUT)/swissroll.csv $(BIN)/dm-load $(BIN)/dm-noise $(BIN)/dm-encode
	$(BIN)/dm-load $< | $(BIN)/dm-noise --t 0:1000:20 --schedule $* --seed 4 -j1 \
	  | $(BIN)/dm-encode --scatter --xlim -4:4 --ylim -4:4 --size 384x384 --caption \
	      --fps 12 --hold-last 1 -o $@
