# tests/bench/bench.mk - `make bench`: every tests/bench/bench_*.c is built
# into $(BUILD)/bench/ against libdm, then tests/bench/run.sh runs each in
# turn.  A new benchmark is a new bench_<name>.c file; nothing to edit here.
#   make bench                    all benchmarks
#   make bench BENCH=stream       only those whose name contains "stream"

BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: bench bench-build
bench: all bench-build
	@DM_BUILD=$(BUILD) sh tests/bench/run.sh $(BENCH)

bench-build: $(BENCH_BIN)

$(BUILD)/bench/bench_%: tests/bench/bench_%.c $(BUILD)/libdm.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libdm.a $(LDLIBS)

# `make profile`: a per-op CPU-time profile of a unet training step (lib/
# built apart in build-prof with -DDM_UNET_PROFILE).  PROFILE_ARGS: MODEL
# BATCH STEPS THREADS (default unet-s 128 3 1).
.PHONY: profile
profile:
	$(MAKE) BUILD=build-prof CFLAGS="$(OPT) -g -DDM_UNET_PROFILE" build-prof/bench/profile_unet
	build-prof/bench/profile_unet $(PROFILE_ARGS)

$(BUILD)/bench/profile_%: tests/bench/profile_%.c $(BUILD)/libdm.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libdm.a $(LDLIBS)
