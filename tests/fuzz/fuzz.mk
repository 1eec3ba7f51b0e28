# tests/fuzz/fuzz.mk - `make fuzz`: a short libFuzzer run of the stream reader.
# Included by the top-level Makefile.  Built with clang (Debian: clang) from
# the stream sources directly, not from the gcc-built libdm, so the whole
# reader is instrumented for coverage, ASan and UBSan.
#   make fuzz FUZZ_SECONDS=300     run longer (default 30 s)
# A crash leaves its input in build-fuzz/crash-*; replay it with
#   build-fuzz/fuzz_stream build-fuzz/crash-<hash>

FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_SRC     := lib/io/stream.c lib/core/kv.c lib/core/tensor.c lib/core/error.c
FUZZ_CFLAGS  := -Ilib -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
# The reader's largest legitimate allocation on a short input is one 64 MiB
# payload chunk; anything bigger from a fuzz input is a finding.
FUZZ_FLAGS   := -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
                -malloc_limit_mb=100 -rss_limit_mb=1024 -print_final_stats=1 \
                -dict=tests/fuzz/stream.dict -artifact_prefix=$(FUZZ_BUILD)/

.PHONY: fuzz fuzz-build
fuzz: fuzz-build
	@rm -rf $(FUZZ_BUILD)/seeds && mkdir -p $(FUZZ_BUILD)/seeds $(FUZZ_BUILD)/corpus
	$(FUZZ_BUILD)/fuzz_seed $(FUZZ_BUILD)/seeds
	$(FUZZ_BUILD)/fuzz_stream $(FUZZ_FLAGS) $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/seeds

fuzz-build: $(FUZZ_BUILD)/fuzz_stream $(FUZZ_BUILD)/fuzz_seed

$(FUZZ_BUILD)/fuzz_stream: tests/fuzz/fuzz_stream.c $(FUZZ_SRC) lib/io/stream.h lib/core/error.h
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz needs clang: apt-get install clang" >&2; exit 1; }
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined -o $@ tests/fuzz/fuzz_stream.c $(FUZZ_SRC) -lz

$(FUZZ_BUILD)/fuzz_seed: tests/fuzz/fuzz_seed.c $(FUZZ_SRC) lib/io/stream.h lib/core/error.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_seed.c $(FUZZ_SRC) -lz -lm
