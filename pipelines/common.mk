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
