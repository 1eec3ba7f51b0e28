# pipelines/fashion-mnist.mk - a U-Net (unet-s of MODELS.md) on
# Fashion-MNIST: training, sample grids with DDIM and DDPM, the denoising
# video (MP4 and GIF), inpainting and SDEdit-style denoising of test images.
#
#   make -f pipelines/fashion-mnist.mk [BUILD=build] [OUT=out/fashion-mnist] [STEPS=20000]
#   make -f pipelines/fashion-mnist.mk STEPS=200 DDPM_STEPS=100   # a smoke test
#   (SAMPLES=64 GRID=8x8 GIF_GRID=4x4: the samples drawn, and their layout)
#   (PRECISION=bf16: dm-train --precision bf16, the run's own OUT wanted)
#   (or `make fashion-mnist` at the top level, which builds the tools first)
#
# Training is long (hours on 2 cores at the default STEPS); dm-train shows
# its progress on a terminal and saves every SAVE_EVERY steps.  Interrupted
# (Ctrl-C saves), a re-run resumes from $(OUT)/train.dmt; model.dmt appears
# only once STEPS is reached, so nothing downstream uses a half-trained
# model.  Changing STEPS retrains from the start.  Outputs in $(OUT)/:
#   model.dmt            the checkpoint after STEPS steps
#   train.csv            the training log: step,loss,lr,grad_norm,seconds
#   loss.png             its loss against step (log scale, raw and smoothed)
#   training/NNNNNN.png  WATCH_N samples of the EMA weights (the same seeds,
#                        DDIM-20) every WATCH_EVERY steps, as the run goes
#   training.mp4         those pictures as a film: the same seeds sharpening
#                        (dm-train's stderr says what each cost, and the
#                        sliced W2 to EVAL_N held-out test images every
#                        EVAL_EVERY steps)
#   check.txt            dm-info --check of the model on held-out test images
#   ddim-grid.png        64 samples, DDIM (eta 0) in DDIM_STEPS steps
#   ddpm-grid.png        64 samples, ancestral DDPM in DDPM_STEPS steps
#   dpmpp-grid.png       64 samples, DPM-Solver++(2M) in DPM_STEPS steps
#   denoise.mp4, .gif    the DDPM trajectory (every DDPM_EVERY-th step): noise
#                        turning into clothes
#   denoise-x0.mp4       the DDIM run, showing the predicted clean image
#   inpaint.png          rows: test images, the kept half, inpainted
#   sdedit.png           rows: test images, noised to t = SDEDIT_T, denoised
#   restore.txt          PSNR of 2x/4x super-resolution and half inpainting by
#                        dm-denoise --restore on RESTORE_N held-out images,
#                        beside the naive answer
#   restore.png          rows: clean, 4x input, 4x restored, half, half restored
#   restore-dps.txt      PSNR of DPS (--dps) on a noisy low-light image (with the
#                        gain known, and estimated by GDP) and a noisy blur,
#                        beside the naive answer, RESTORE_N held-out images
#   restore-dps.png      rows: clean, dark, curve inverted, DPS, GDP, blurred, DPS
# Every file is a real target: a re-run with nothing changed does nothing.

BUILD      ?= build
OUT        ?= out/fashion-mnist
STEPS      ?= 20000
BATCH      ?= 64
LR         ?= 1e-3
WARMUP     ?= 200
SAVE_EVERY ?= 500
SCHEDULE   ?= cosine
THREADS    ?= 0
PRECISION  ?= fp32
DDIM_STEPS ?= 50
DDPM_STEPS ?= 1000
DPM_STEPS  ?= 20
DDPM_EVERY ?= 20
SDEDIT_T   ?= 300
SEED       ?= 7
SAMPLES    ?= 64
GRID       ?= 8x8
GIF_GRID   ?= 4x4
# Watching: 64 samples at DDIM-20 every 500 steps is 1280 network
# evaluations against 500 x 64 x 3 for the steps between (under 2%).
WATCH_EVERY ?= 500
WATCH_N     ?= 64
WATCH_WITH  ?= ddim:20
EVAL_EVERY  ?= 2000
EVAL_N      ?= 256

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk
.SECONDARY:
THIS := pipelines/fashion-mnist.mk
J := --threads $(THREADS)

all: $(addprefix $(OUT)/,loss.png training.mp4 check.txt ddim-grid.png ddpm-grid.png dpmpp-grid.png denoise.mp4 denoise.gif \
     denoise-x0.mp4 inpaint.png sdedit.png restore.txt restore.png restore-dps.txt restore-dps.png)
.PHONY: all

# The training options, remembered so that changing them retrains, and the
# run (dm_train in common.mk: resumable, model.dmt only at STEPS).
TRAIN_OPTS  = $(strip unet-s steps=$(STEPS) batch=$(BATCH) lr=$(LR) warmup=$(WARMUP) schedule=$(SCHEDULE) \
	      $(if $(filter-out fp32,$(PRECISION)),precision=$(PRECISION)))
TRAIN_CLEAN = $(OUT)/training/*.png
TRAIN_INPUT = $(BIN)/dm-load fashion-mnist:train --batch $(BATCH) --shuffle --flip --epochs 0 --seed 1 \
	  | $(BIN)/dm-noise --train --schedule $(SCHEDULE) --seed 2 -j1
TRAIN_NEW   = --model unet-s --batch $(BATCH) --lr $(LR) --warmup $(WARMUP) --ema 0.999
TRAIN_ALL   = $(J) $(WATCH) --precision $(PRECISION) --save-every $(SAVE_EVERY)
$(OUT)/train.opts: FORCE | $(OUT)/.dir
	$(dm_train_opts)
FORCE:
.PHONY: FORCE
$(OUT)/model.dmt: $(OUT)/train.opts $(BIN)/dm-load $(BIN)/dm-noise $(BIN)/dm-train
	$(dm_train)

# dm-train's pictures while it trains are numbered PNGs (a resumed run adds
# to them), made into a film at the end.
WATCH = --sample-every $(WATCH_EVERY) --sample-n $(WATCH_N) --sample-with $(WATCH_WITH) --sample-out $(OUT)/training/%06d.png \
        --eval-every $(EVAL_EVERY) --eval-data $(OUT)/eval.dm
$(OUT)/model.dmt: $(OUT)/eval.dm | $(OUT)/training/.dir
$(OUT)/training/.dir: | $(OUT)/.dir
	mkdir -p $(@D) && touch $@
$(OUT)/eval.dm: $(BIN)/dm-load | $(OUT)/.dir
	$(BIN)/dm-load fashion-mnist:test --limit $(EVAL_N) --batch $(EVAL_N) --seed 5 >$@
$(OUT)/training.mp4: $(OUT)/model.dmt $(BIN)/dm-load $(BIN)/dm-encode
	$(BIN)/dm-load $(OUT)/training/'*.png' --batch 1 | $(BIN)/dm-encode --fps 4 --hold-last 2 -o $@
$(OUT)/loss.png: $(OUT)/model.dmt $(BIN)/dm-plot
	$(BIN)/dm-plot --log-y --smooth 0.98 --title "unet-s on fashion-mnist" -o $@ $(OUT)/train.csv
$(OUT)/check.txt: $(OUT)/model.dmt $(OUT)/eval.dm $(BIN)/dm-info
	$(BIN)/dm-info --check $< $(OUT)/eval.dm >$@

# The DDIM trajectory: every step as a frame (x, and the predicted x0).
$(OUT)/ddim.dm: $(OUT)/model.dmt $(BIN)/dm-noise $(BIN)/dm-denoise
	$(BIN)/dm-noise --prior --shape $(SAMPLES)x1x28x28 --seed $(SEED) --schedule $(SCHEDULE) \
	  | $(BIN)/dm-denoise -m $< --sampler ddim --steps $(DDIM_STEPS) --every 1 $(J) -o $@
$(OUT)/ddim-x0.dm: $(OUT)/model.dmt $(BIN)/dm-noise $(BIN)/dm-denoise
	$(BIN)/dm-noise --prior --shape $(SAMPLES)x1x28x28 --seed $(SEED) --schedule $(SCHEDULE) \
	  | $(BIN)/dm-denoise -m $< --sampler ddim --steps $(DDIM_STEPS) --every 1 --x0 $(J) -o $@

# The last frame of a trajectory as a picture: dm-encode numbers one PNG per
# frame; keep the last.
$(OUT)/ddim-grid.png: $(OUT)/ddim.dm $(BIN)/dm-encode
	rm -rf $@.d && mkdir $@.d
	$(BIN)/dm-encode --grid $(GRID) --scale 2 --gap 2 -o $@.d/%05d.png $<
	mv $@.d/$$(ls $@.d | tail -n 1) $@ && rm -rf $@.d

# DDPM: every DDPM_EVERY-th state kept, for the video.
$(OUT)/ddpm.dm: $(OUT)/model.dmt $(BIN)/dm-noise $(BIN)/dm-denoise
	$(BIN)/dm-noise --prior --shape $(SAMPLES)x1x28x28 --seed $(SEED) --schedule $(SCHEDULE) \
	  | $(BIN)/dm-denoise -m $< --sampler ddpm --steps $(DDPM_STEPS) --every $(DDPM_EVERY) $(J) -o $@
$(OUT)/ddpm-grid.png: $(OUT)/ddpm.dm $(BIN)/dm-encode
	$(BIN)/dm-encode --last --grid $(GRID) --scale 2 --gap 2 -o $@ $<

# DPM-Solver++(2M) in DPM_STEPS steps, the same prior samples.
$(OUT)/dpmpp.dm: $(OUT)/model.dmt $(BIN)/dm-noise $(BIN)/dm-denoise
	$(BIN)/dm-noise --prior --shape $(SAMPLES)x1x28x28 --seed $(SEED) --schedule $(SCHEDULE) \
	  | $(BIN)/dm-denoise -m $< --sampler dpm++2m --steps $(DPM_STEPS) $(J) -o $@
$(OUT)/dpmpp-grid.png: $(OUT)/dpmpp.dm $(BIN)/dm-encode
	$(BIN)/dm-encode --grid $(GRID) --scale 2 --gap 2 -o $@ $<

VIDEO := --grid $(GRID) --scale 4 --gap 4 --caption --fps 12 --hold-last 3
# The videos of noise turning into clothes follow the ancestral sampler
# (cleaner samples than DDIM's from a short run); the x0 video, DDIM's.
$(OUT)/denoise.mp4: $(OUT)/ddpm.dm $(BIN)/dm-encode
	$(BIN)/dm-encode $(VIDEO) -o $@ $<
$(OUT)/denoise-x0.mp4: $(OUT)/ddim-x0.dm $(BIN)/dm-encode
	$(BIN)/dm-encode $(VIDEO) -o $@ $<
$(OUT)/denoise.gif: $(OUT)/ddpm.dm $(BIN)/dm-encode
	$(BIN)/dm-encode --grid $(GIF_GRID) --scale 3 --gap 3 --caption --fps 12 --hold-last 3 -o $@ $<

# Test images: 8, one frame.
$(OUT)/test.npy: $(BIN)/dm-load $(BIN)/dm-encode | $(OUT)/.dir
	$(BIN)/dm-load fashion-mnist:test --limit 8 --batch 8 | $(BIN)/dm-encode -f npy -o $@

# Inpainting (RePaint): keep the left half.  The mask is written as an NPY
# (1 left, -1 right; python3's standard library only), then as a PNG.
$(OUT)/mask.png: $(BIN)/dm-load $(BIN)/dm-encode | $(OUT)/.dir
	python3 -c 'import struct,sys; h=b"{'"'"'descr'"'"': '"'"'<f4'"'"', '"'"'fortran_order'"'"': False, '"'"'shape'"'"': (1, 1, 28, 28), }"; \
	  h=h+b" "*(118-len(h))+b"\n"; \
	  sys.stdout.buffer.write(b"\x93NUMPY\x01\x00"+struct.pack("<H",len(h))+h+struct.pack("<784f",*[1.0 if i%28<14 else -1.0 for i in range(784)]))' >$(OUT)/mask.npy
	$(BIN)/dm-load $(OUT)/mask.npy | $(BIN)/dm-encode -o $@
$(OUT)/inpaint.npy: $(OUT)/test.npy $(OUT)/mask.png $(OUT)/model.dmt $(BIN)/dm-load $(BIN)/dm-denoise $(BIN)/dm-encode
	$(BIN)/dm-load $< | $(BIN)/dm-denoise -m $(OUT)/model.dmt --sampler ddpm --steps $(DDPM_STEPS) \
	  --mask $(OUT)/mask.png --seed $(SEED) $(J) | $(BIN)/dm-encode -f npy -o $@
# The kept half, for the picture: the test images with the right half black.
$(OUT)/kept.npy: $(OUT)/test.npy $(BIN)/dm-load $(BIN)/dm-encode
	$(BIN)/dm-load $< | $(BIN)/dm-encode -f csv \
	  | awk -F, '{ for (i = 1; i <= NF; i++) printf "%s%s", ((i - 1) % 28 < 14 ? $$i : -1), (i < NF ? "," : "\n") }' \
	  >$(OUT)/kept.csv
	python3 -c 'import struct,sys; rows=[l.split(",") for l in open(sys.argv[1])]; h=b"{'"'"'descr'"'"': '"'"'<f4'"'"', '"'"'fortran_order'"'"': False, '"'"'shape'"'"': (%d, 1, 28, 28), }" % len(rows); \
	  h=h+b" "*(118-len(h))+b"\n"; v=[float(x) for r in rows for x in r]; \
	  sys.stdout.buffer.write(b"\x93NUMPY\x01\x00"+struct.pack("<H",len(h))+h+struct.pack("<%df" % len(v),*v))' $(OUT)/kept.csv >$@
$(OUT)/inpaint.png: $(OUT)/test.npy $(OUT)/kept.npy $(OUT)/inpaint.npy $(BIN)/dm-load $(BIN)/dm-encode
	$(BIN)/dm-load $(OUT)/test.npy $(OUT)/kept.npy $(OUT)/inpaint.npy --batch 24 \
	  | $(BIN)/dm-encode --grid 3x8 --scale 3 --gap 3 -o $@

# SDEdit-style denoising: noise the test images to SDEDIT_T, then run the
# reverse process from there.
$(OUT)/noisy.npy: $(OUT)/test.npy $(OUT)/model.dmt $(BIN)/dm-load $(BIN)/dm-noise $(BIN)/dm-encode
	$(BIN)/dm-load $< | $(BIN)/dm-noise --t $(SDEDIT_T) --schedule $(SCHEDULE) --seed 3 \
	  | $(BIN)/dm-encode -f npy -o $@
$(OUT)/sdedit.npy: $(OUT)/noisy.npy $(OUT)/model.dmt $(BIN)/dm-load $(BIN)/dm-denoise $(BIN)/dm-encode
	$(BIN)/dm-load $< | $(BIN)/dm-denoise -m $(OUT)/model.dmt --from-t $(SDEDIT_T) --sampler ddim \
	  --steps $(DDIM_STEPS) $(J) | $(BIN)/dm-encode -f npy -o $@
$(OUT)/sdedit.png: $(OUT)/test.npy $(OUT)/noisy.npy $(OUT)/sdedit.npy $(BIN)/dm-load $(BIN)/dm-encode
	$(BIN)/dm-load $(OUT)/test.npy $(OUT)/noisy.npy $(OUT)/sdedit.npy --batch 24 \
	  | $(BIN)/dm-encode --grid 3x8 --scale 3 --gap 3 -o $@

# Restoration with the unconditional model (DDNM range-null-space projection,
# dm-denoise --restore) on RESTORE_N held-out test images: 2x and 4x
# super-resolution and the masked right half, each scored by PSNR against
# the clean images beside the naive answer A+ y (block means spread back;
# the kept half with mid-gray) from pipelines/degrade.py.
RESTORE_N       ?= 64
RESTORE_SAMPLER ?= ddpm
RESTORE_STEPS   ?= 100
RESTORE_TASKS   := sr2 sr4 half
SPEC_sr2  := sr:2
SPEC_sr4  := sr:4
SPEC_half  = mask:$(OUT)/mask.png
NAIVE_sr2 := sr:2
NAIVE_sr4 := sr:4
NAIVE_half = mask:$(OUT)/mask.npy
$(OUT)/heldout.dm: $(BIN)/dm-load | $(OUT)/.dir
	$(BIN)/dm-load fashion-mnist:test --limit $(RESTORE_N) --batch $(RESTORE_N) >$@
$(OUT)/restore-%.dm: $(OUT)/heldout.dm $(OUT)/model.dmt $(OUT)/mask.png $(BIN)/dm-denoise
	$(BIN)/dm-denoise -m $(OUT)/model.dmt --restore $(SPEC_$*) --sampler $(RESTORE_SAMPLER) \
	  --steps $(RESTORE_STEPS) --seed $(SEED) $(J) <$< >$@
$(OUT)/naive-%.dm: $(OUT)/heldout.dm $(OUT)/mask.png pipelines/degrade.py
	python3 pipelines/degrade.py $(NAIVE_$*) $< $@
$(OUT)/restore.txt: $(foreach k,$(RESTORE_TASKS),$(OUT)/restore-$(k).dm $(OUT)/naive-$(k).dm) $(BIN)/dm-score
	{ echo "# PSNR (dB) on $(RESTORE_N) held-out test images; $(RESTORE_SAMPLER), $(RESTORE_STEPS) steps"; \
	  echo "task naive dm"; \
	  for k in $(RESTORE_TASKS); do \
	    echo "$$k $$($(BIN)/dm-score --psnr $(OUT)/naive-$$k.dm $(OUT)/heldout.dm)" \
	         "$$($(BIN)/dm-score --psnr $(OUT)/restore-$$k.dm $(OUT)/heldout.dm)"; \
	  done; } >$@
	cat $@
# The picture: rows clean, 4x input, 4x restored, half input, half restored,
# of the first PIC (8, or fewer when RESTORE_N is smaller) images.
PIC := $(shell echo $$(( $(RESTORE_N) < 8 ? $(RESTORE_N) : 8 )))
$(OUT)/restore.png: $(OUT)/restore.txt $(BIN)/dm-load $(BIN)/dm-encode
	rm -rf $@.d && mkdir $@.d
	for f in heldout naive-sr4 restore-sr4 naive-half restore-half; do \
	  $(BIN)/dm-encode -f npy -o $@.d/$$f.all.npy $(OUT)/$$f.dm; \
	  $(BIN)/dm-load $@.d/$$f.all.npy --limit $(PIC) --batch $(PIC) | $(BIN)/dm-encode -f npy -o $@.d/$$f.npy; \
	done
	$(BIN)/dm-load $(foreach f,heldout naive-sr4 restore-sr4 naive-half restore-half,$@.d/$(f).npy) \
	  --batch $$((5 * $(PIC))) | $(BIN)/dm-encode --grid 5x$(PIC) --scale 3 --gap 3 -o $@
	rm -rf $@.d

# Posterior sampling (DPS, dm-denoise --dps) for degradations DDNM cannot
# project onto: a dark, gamma-curved image (lowlight:GAIN:GAMMA) and a
# Gaussian blur, each with Gaussian noise of std DPS_NOISE, measured by
# pipelines/degrade.py (the Python twin of lib/diffusion/degrade.c).  GDP
# (--gdp gain) starts from gain GDP_GAIN0 and estimates it.  Naive: the
# curve inverted (with the true GAIN and GAMMA), the blurred image itself.
DPS_ZETA   ?= 12
BLUR_ZETA  ?= 6
DPS_NOISE  ?= 0.05
DARK       ?= 0.25:2
GDP_GAIN0  ?= 1
BLUR       ?= 1.5
$(OUT)/measure-dark.dm: $(OUT)/heldout.dm pipelines/degrade.py
	python3 pipelines/degrade.py --measure lowlight:$(DARK):$(DPS_NOISE) $< $@
$(OUT)/measure-blur.dm: $(OUT)/heldout.dm pipelines/degrade.py
	python3 pipelines/degrade.py --measure blur:$(BLUR):$(DPS_NOISE) $< $@
$(OUT)/inverse-dark.dm: $(OUT)/measure-dark.dm pipelines/degrade.py
	python3 pipelines/degrade.py lowlight:$(DARK) $< $@
$(OUT)/dps-dark.dm: $(OUT)/measure-dark.dm $(OUT)/model.dmt $(BIN)/dm-denoise
	$(BIN)/dm-denoise -m $(OUT)/model.dmt --restore lowlight:$(DARK) --dps $(DPS_ZETA) \
	  --sampler $(RESTORE_SAMPLER) --steps $(RESTORE_STEPS) --seed $(SEED) $(J) <$< >$@
$(OUT)/gdp-dark.dm: $(OUT)/measure-dark.dm $(OUT)/model.dmt $(BIN)/dm-denoise
	$(BIN)/dm-denoise -m $(OUT)/model.dmt --restore lowlight:$(GDP_GAIN0):$(lastword $(subst :, ,$(DARK))) \
	  --dps $(DPS_ZETA) --gdp gain --sampler $(RESTORE_SAMPLER) --steps $(RESTORE_STEPS) \
	  --seed $(SEED) $(J) <$< >$@
$(OUT)/dps-blur.dm: $(OUT)/measure-blur.dm $(OUT)/model.dmt $(BIN)/dm-denoise
	$(BIN)/dm-denoise -m $(OUT)/model.dmt --restore blur:$(BLUR) --dps $(BLUR_ZETA) \
	  --sampler $(RESTORE_SAMPLER) --steps $(RESTORE_STEPS) --seed $(SEED) $(J) <$< >$@
$(OUT)/restore-dps.txt: $(addprefix $(OUT)/,measure-dark.dm inverse-dark.dm dps-dark.dm gdp-dark.dm \
                        measure-blur.dm dps-blur.dm) $(BIN)/dm-score $(BIN)/dm-encode
	{ echo "# PSNR (dB) on $(RESTORE_N) held-out test images; $(RESTORE_SAMPLER), $(RESTORE_STEPS)" \
	       "steps, --dps $(DPS_ZETA) (blur $(BLUR_ZETA)), noise $(DPS_NOISE)"; \
	  echo "task input naive dps gdp gdp-gain"; \
	  echo "lowlight:$(DARK) $$($(BIN)/dm-score --psnr $(OUT)/measure-dark.dm $(OUT)/heldout.dm)" \
	       "$$($(BIN)/dm-score --psnr $(OUT)/inverse-dark.dm $(OUT)/heldout.dm)" \
	       "$$($(BIN)/dm-score --psnr $(OUT)/dps-dark.dm $(OUT)/heldout.dm)" \
	       "$$($(BIN)/dm-score --psnr $(OUT)/gdp-dark.dm $(OUT)/heldout.dm)" \
	       "$$($(BIN)/dm-encode -f csv -t gdp $(OUT)/gdp-dark.dm | awk -F, '{ g += $$1; n++ } END { printf "%.3f", g / n }')"; \
	  echo "blur:$(BLUR) $$($(BIN)/dm-score --psnr $(OUT)/measure-blur.dm $(OUT)/heldout.dm)" \
	       "$$($(BIN)/dm-score --psnr $(OUT)/measure-blur.dm $(OUT)/heldout.dm)" \
	       "$$($(BIN)/dm-score --psnr $(OUT)/dps-blur.dm $(OUT)/heldout.dm) - -"; } >$@
	cat $@
DPS_ROWS := heldout measure-dark inverse-dark dps-dark gdp-dark measure-blur dps-blur
$(OUT)/restore-dps.png: $(OUT)/restore-dps.txt $(BIN)/dm-load $(BIN)/dm-encode
	rm -rf $@.d && mkdir $@.d
	for f in $(DPS_ROWS); do \
	  $(BIN)/dm-encode -f npy -t x -o $@.d/$$f.all.npy $(OUT)/$$f.dm; \
	  $(BIN)/dm-load $@.d/$$f.all.npy --limit $(PIC) --batch $(PIC) | $(BIN)/dm-encode -f npy -o $@.d/$$f.npy; \
	done
	$(BIN)/dm-load $(foreach f,$(DPS_ROWS),$@.d/$(f).npy) \
	  --batch $$((7 * $(PIC))) | $(BIN)/dm-encode --grid 7x$(PIC) --scale 3 --gap 3 -o $@
	rm -rf $@.d
