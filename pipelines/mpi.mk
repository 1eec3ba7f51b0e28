# pipelines/mpi.mk - data-parallel training with MPI (dm-train(1), "Running
# on a cluster"): NP ranks, each reading its own shard of one shuffled data
# set (dm-load --shard R/N), one deterministic all-reduce of the gradient
# per step, rank 0 writing the checkpoint and the log.
#
#   make -f pipelines/mpi.mk toy      [NP=2]            mlp-2d on 8 Gaussians
#   make -f pipelines/mpi.mk fashion  [NP=2] [STEPS=20000] [BATCH=128]
#   make -f pipelines/mpi.mk compare  [NP=2]            NP ranks vs 1 rank
#   make -f pipelines/mpi.mk bench    [BENCH_STEPS=6]   unet-s steps/s: 1 rank x 1
#        thread, NP ranks x 1 thread, 1 rank x NP threads; all-reduce ms/step
#   MPIRUN='srun' or MPIFLAGS='--hostfile hosts' for a cluster
#
# Needs a dm built with MPI (the Makefile picks Open MPI up through
# pkg-config ompi-c; `dm-train --help` says whether it did).  BATCH is the
# GLOBAL batch; each rank trains on BATCH/NP samples a step.  Every rank runs
# THREADS threads (1 by default: one rank per core).  The checkpoint does not
# depend on NP: an interrupted run resumes with any NP that divides BATCH.
# Outputs in $(OUT)/:
#   toy.dmt, toy.csv, toy.png        the toy model, its log, 2000 samples
#   fashion.dmt, fashion.csv, fashion-grid.png
#   compare.txt                      max weight difference, NP ranks vs 1

BUILD    ?= build
OUT      ?= out/mpi
NP       ?= 2
MPIRUN   ?= mpirun
MPIFLAGS ?= --oversubscribe $(if $(filter 0,$(shell id -u)),--allow-run-as-root)
THREADS  ?= 1
STEPS    ?= 20000
TOY_STEPS ?= 2000
BATCH    ?= 128
SAVE_EVERY ?= 500

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk
PER_RANK = $(shell echo $$(( $(BATCH) / $(NP) )))
# every rank's own shard; single quotes keep the variables for each rank's sh
SHARD := --shard $$OMPI_COMM_WORLD_RANK/$$OMPI_COMM_WORLD_SIZE
SHARD_DQ := --shard \$$OMPI_COMM_WORLD_RANK/\$$OMPI_COMM_WORLD_SIZE
RUN = $(MPIRUN) $(MPIFLAGS) -np $(NP) sh -c

toy: $(OUT)/toy.png
fashion: $(OUT)/fashion-grid.png
compare: $(OUT)/compare.txt
.PHONY: toy fashion compare check-np bench

check-np:
	@[ $$(( $(BATCH) % $(NP) )) = 0 ] || { echo "mpi.mk: BATCH $(BATCH) is not divisible by NP $(NP)" >&2; exit 1; }
	@$(BIN)/dm-train --help | grep -q 'built with MPI' || { echo "mpi.mk: $(BIN)/dm-train was built without MPI (apt-get install libopenmpi-dev; make clean; make)" >&2; exit 1; }

# The pasteable form: every rank runs the whole pipeline on its shard.
$(OUT)/toy.dmt: | check-np $(OUT)/.dir
	$(RUN) '$(BIN)/dm-load toy:8gaussians $(SHARD) --batch $(PER_RANK) --shuffle --epochs 0 \
	  | $(BIN)/dm-noise --train --seed 1 \
	  | $(BIN)/dm-train --model mlp-2d --batch $(PER_RANK) --steps $(TOY_STEPS) --lr 1e-3 \
	      --threads $(THREADS) -o $@ --log $(OUT)/toy.csv --stats'

$(OUT)/toy.png: $(OUT)/toy.dmt
	$(BIN)/dm-noise --prior --shape 2000x2 --seed 3 \
	  | $(BIN)/dm-denoise -m $< --sampler ddim --steps 50 \
	  | $(BIN)/dm-encode --scatter -o $@

# unet-s on Fashion-MNIST; a re-run after an interruption resumes (with
# whatever NP is given now).  fashion.dmt appears only at STEPS.
$(OUT)/fashion.dmt: | check-np $(OUT)/.dir
	if [ -f $(OUT)/fashion-train.dmt ]; then \
	  train="$(BIN)/dm-train --resume $(OUT)/fashion-train.dmt --steps $(STEPS) --threads $(THREADS) --log $(OUT)/fashion.csv"; \
	else \
	  train="$(BIN)/dm-train --model unet-s --batch $(PER_RANK) --steps $(STEPS) --warmup 500 \
	    --save-every $(SAVE_EVERY) --threads $(THREADS) -o $(OUT)/fashion-train.dmt --log $(OUT)/fashion.csv"; \
	fi; \
	$(RUN) "$(BIN)/dm-load fashion-mnist:train $(SHARD_DQ) --batch $(PER_RANK) --shuffle --flip --epochs 0 --seed 1 \
	  | $(BIN)/dm-noise --train --schedule cosine --seed 2 -j1 | $$train --stats"
	step=$$($(BIN)/dm-info --summary $(OUT)/fashion-train.dmt | sed -n 's/^ *step=//p'); \
	  [ "$$step" = "$(STEPS)" ] || { echo "mpi.mk: stopped at step $$step of $(STEPS); run make again to resume" >&2; exit 1; }
	cp $(OUT)/fashion-train.dmt $@

$(OUT)/fashion-grid.png: $(OUT)/fashion.dmt
	$(BIN)/dm-noise --prior --shape 64x1x28x28 --seed 7 --schedule cosine \
	  | $(BIN)/dm-denoise -m $< --sampler ddim --steps 50 \
	  | $(BIN)/dm-encode --grid 8x8 --scale 2 --gap 2 -o $@

# NP ranks with BATCH/NP each against one rank with BATCH: the same
# training to float32 rounding (tests/tools/mpi.sh states the tolerance).
$(OUT)/compare.txt: | check-np $(OUT)/.dir
	$(BIN)/dm-load toy:moons --batch $(BATCH) --shuffle --epochs 0 \
	  | $(BIN)/dm-noise --train --seed 1 \
	  | $(BIN)/dm-train --batch $(BATCH) --steps 100 --lr 1e-3 -j 1 -q -o $(OUT)/cmp1.dmt
	$(RUN) '$(BIN)/dm-load toy:moons $(SHARD) --batch $(PER_RANK) --shuffle --epochs 0 \
	  | $(BIN)/dm-noise --train --seed 1 \
	  | $(BIN)/dm-train --batch $(PER_RANK) --steps 100 --lr 1e-3 -j 1 -q -o $(OUT)/cmpN.dmt'
	python3 -c 'import sys; sys.path.insert(0, "tests/ref"); from dmstream import read_stream; \
	  a = read_stream(open("$(OUT)/cmp1.dmt", "rb"))[1][0][1]; b = read_stream(open("$(OUT)/cmpN.dmt", "rb"))[1][0][1]; \
	  print("max |w(1 rank) - w($(NP) ranks)| after 100 steps: %.3g" % max(abs(x - y) for k in a for x, y in zip(a[k][2], b[k][2])))' | tee $@

# Speed: unet-s, global batch BATCH, steps after the first (which plans its
# buffers) timed from the log; the all-reduce time comes from --stats.
BENCH_STEPS ?= 6
BENCH_IN = $(BIN)/dm-load fashion-mnist:train --batch $(1) --shuffle --epochs 0 $(2) \
	  | $(BIN)/dm-noise --train --seed 1 -j1
BENCH_TR = $(BIN)/dm-train --model unet-s --steps $(BENCH_STEPS) -q --stats
bench: | check-np $(OUT)/.dir
	$(call BENCH_IN,$(BATCH)) | $(BENCH_TR) --batch $(BATCH) -j 1 -o $(OUT)/b1.dmt --log $(OUT)/b1.csv 2>&1 | tee $(OUT)/bench.txt
	$(RUN) '$(call BENCH_IN,$(PER_RANK),$(SHARD)) | $(BENCH_TR) --batch $(PER_RANK) -j 1 -o $(OUT)/bN.dmt --log $(OUT)/bN.csv' 2>&1 | tee -a $(OUT)/bench.txt
	$(call BENCH_IN,$(BATCH)) | $(BENCH_TR) --batch $(BATCH) -j $(NP) -o $(OUT)/bT.dmt --log $(OUT)/bT.csv 2>&1 | tee -a $(OUT)/bench.txt
	for c in b1 bN bT; do awk -F, -v c=$$c 'NR==2{a=$$5} END{printf "%s: %.3f steps/s after the first step (%d steps)\n", c, ($$1-1)/($$5-a), $$1-1}' $(OUT)/$$c.csv; done | tee -a $(OUT)/bench.txt
