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
