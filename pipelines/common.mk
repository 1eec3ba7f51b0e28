# pipelines/common.mk - the start every pipeline Makefile shares: the tools
# in $(BUILD)/bin, recipes in bash with pipefail (a failing tool in a pipe
# fails the target), no half-written target left after a failure, no
# built-in rules, and the output folder.  Included after BUILD and OUT are
# set:  include $(dir $(lastword $(MAKEFILE_LIST)))common.mk
BIN := $(BUILD)/bin
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:
.SUFFIXES:

# (not the default goal: that stays the including file's first target)
common_goal := $(.DEFAULT_GOAL)
$(OUT)/.dir:
	mkdir -p $(OUT) && touch $@
.DEFAULT_GOAL := $(common_goal)

# A training run that survives interruption, for $(OUT)/model.dmt:
#   $(OUT)/train.opts: FORCE | $(OUT)/.dir
#   	$(dm_train_opts)           # with TRAIN_OPTS: the options as a line
#   $(OUT)/model.dmt: $(OUT)/train.opts ...
#   	$(dm_train)                # with TRAIN_INPUT, TRAIN_NEW, TRAIN_ALL
# train.opts changes when the options do, and then the run starts afresh
# (train.dmt and TRAIN_CLEAN removed).  dm_train pipes TRAIN_INPUT (the
# dm-load | dm-noise part) into dm-train: with --resume when
# $(OUT)/train.dmt exists (it skips the samples the checkpoint saw, so the
# same input stream continues where it stopped), else a new run with
# TRAIN_NEW; TRAIN_ALL goes to both.  The target appears only once STEPS
# is reached, so nothing downstream uses a half-trained model.
define dm_train_opts
	@echo "$(TRAIN_OPTS)" >$@.new
	@cmp -s $@.new $@ && rm -f $@.new || { mv -f $@.new $@; rm -f $(OUT)/train.dmt $(TRAIN_CLEAN); }
endef
define dm_train
	@echo "$(notdir $(OUT)): training for $(STEPS) steps -> $@"
	$(TRAIN_INPUT) \
	  | if [ -f $(OUT)/train.dmt ]; then \
	      $(BIN)/dm-train --resume $(OUT)/train.dmt --steps $(STEPS) --log $(OUT)/train.csv $(TRAIN_ALL); \
	    else \
	      $(BIN)/dm-train --steps $(STEPS) $(TRAIN_NEW) --log $(OUT)/train.csv $(TRAIN_ALL) -o $(OUT)/train.dmt; \
	    fi
	step=$$($(BIN)/dm-info --summary $(OUT)/train.dmt | sed -n 's/^ *step=//p'); \
	  if [ "$$step" != "$(STEPS)" ]; then \
	    echo "$(notdir $(OUT)): stopped at step $$step of $(STEPS); run make again to resume" >&2; exit 1; fi
	cp $(OUT)/train.dmt $@
endef
