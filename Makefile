# dm - diffusion models as Unix filters.  See README.md.
#
#   make              libdm (static + shared) and every tool, in $(BUILD)/
#   make test         unit tests of lib/ and shell tests of every tool
#   make chaos        the fault tests at length (200 kill -9 rounds of dm-train)
#   make check-asan   the whole test suite under AddressSanitizer + UBSan
#   make check-layers lib/ includes only downward (also run by make test)
#   make bench        benchmarks (tests/bench/)
#   make fuzz         a short libFuzzer run of the stream reader (clang)
#   make demo         the README's demo
#   make install / uninstall   honour PREFIX and DESTDIR

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BUILD     ?= build
OPT       ?= -O2
CC        ?= cc
SAN       ?=

DEPS      := zlib libpng libavcodec libavformat libavutil libswscale
DEB_zlib         := zlib1g-dev
DEB_libpng       := libpng-dev
DEB_libavcodec   := libavcodec-dev
DEB_libavformat  := libavformat-dev
DEB_libavutil    := libavutil-dev
DEB_libswscale   := libswscale-dev

NODEPS_GOALS := clean uninstall help demo
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
  ifeq ($(shell command -v pkg-config),)
    $(error pkg-config not found: apt-get install pkg-config)
  endif
  MISSING := $(strip $(foreach d,$(DEPS),$(if $(shell pkg-config --exists $(d) && echo y),,$(d))))
  ifneq ($(MISSING),)
    $(error missing $(MISSING): apt-get install $(foreach d,$(MISSING),$(DEB_$(d))))
  endif
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(DEPS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(DEPS) 2>/dev/null)

# MPI (optional): when Open MPI's pkg-config file is there, all of libdm and
# the tools are built with it and -DDM_MPI (data-parallel dm-train, lib/train/dist.h);
# without it they build as before, single-rank.  MPI=no forces it off.
ifneq ($(MPI),no)
  ifeq ($(shell pkg-config --exists ompi-c 2>/dev/null && echo y),y)
    PKG_CFLAGS += $(shell pkg-config --cflags ompi-c) -DDM_MPI
    PKG_LIBS   += $(shell pkg-config --libs ompi-c)
  endif
endif

WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-sign-compare -Wvla
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS := -Ilib -std=c11 -D_GNU_SOURCE -DDM_VERSION='"$(VERSION)"' $(WARN) -fPIC \
              -fopenmp $(CFLAGS) $(SAN) $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -fopenmp $(SAN)

AVX2_FLAGS   := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma -mf16c
AVX512BF16_FLAGS := $(AVX512_FLAGS) -mavx512bf16
AMX_FLAGS    := $(AVX512BF16_FLAGS) -mamx-tile -mamx-bf16

# lib/ in folders by pipeline stage (lib/README.md); every source includes
# others by their path under lib/ ("core/error.h"), so one -Ilib serves lib/,
# tools/ and tests/, and an installed program uses -I$(includedir)/dm.
LIB_DIRS  := core io nn nn/simd diffusion data models train eval
LIB_SRC   := $(foreach d,$(LIB_DIRS),$(wildcard lib/$(d)/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC  := $(wildcard tools/dm-*.c)
TOOLS     := $(TOOL_SRC:tools/%.c=$(BUILD)/bin/%)
TOOL_COMMON := $(BUILD)/tools/cli.o
UNIT_SRC  := $(wildcard tests/unit/*.c tests/unit/*/*.c)
UNIT_OBJ  := $(UNIT_SRC:%.c=$(BUILD)/%.o)
UNIT      := $(BUILD)/tests/unit-tests
HEADERS   := $(filter-out lib/nn/shortcopy.h lib/nn/simd/%,$(foreach d,$(LIB_DIRS),$(wildcard lib/$(d)/*.h)))
MAN1      := $(wildcard man/man1/*.1)
MAN5      := $(wildcard man/man5/*.5)
MAN7      := $(wildcard man/man7/*.7)

.PHONY: FORCE all test chaos check-layers check-asan bench fuzz demo install uninstall clean help
.DELETE_ON_ERROR:

all: $(BUILD)/libdm.a $(BUILD)/libdm.so $(TOOLS) $(BUILD)/dm.pc

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/lib/nn/simd/%_avx2.o: lib/nn/simd/%_avx2.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/lib/nn/simd/%_avx512.o: lib/nn/simd/%_avx512.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/lib/nn/simd/%_avx512bf16.o: lib/nn/simd/%_avx512bf16.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(AVX512BF16_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/lib/nn/simd/%_amx.o: lib/nn/simd/%_amx.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(AMX_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libdm.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libdm.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libdm.so.0 -o $@ $^ $(LDLIBS)

# The tools' objects are real targets, not intermediates of the pattern
# chain: otherwise make deletes them after linking and the next `make`
# compiles them again.
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/%.o) $(TOOL_COMMON)
.SECONDARY: $(TOOL_OBJ)

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(TOOL_COMMON) $(BUILD)/libdm.a
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS)

$(UNIT_OBJ): ALL_CFLAGS += -Itests/unit

$(UNIT): $(UNIT_OBJ) $(BUILD)/libdm.a
	$(CC) -o $@ $^ $(LDLIBS)

# Regenerated when PREFIX changes (the rule always runs; the file is only
# replaced when its content differs).
$(BUILD)/dm.pc: FORCE
	@mkdir -p $(@D)
	@printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: dm\nDescription: diffusion models as Unix filters (core library)\nVersion: %s\nRequires.private: %s\nLibs: -L$${libdir} -ldm\nLibs.private: -lm -fopenmp\nCflags: -I$${includedir}/dm\n' \
	  '$(PREFIX)' '$(VERSION)' '$(DEPS)' > $@.new
	@cmp -s $@.new $@ && rm -f $@.new || mv -f $@.new $@

FORCE:

test: all $(UNIT)
	@DM_BUILD=$(BUILD) sh tests/run.sh

# the fault tests of `make test` at length: 200 kill -9 rounds of dm-train
chaos: all
	@DM_BUILD=$(BUILD) DM_CHAOS_KILLS=200 sh tests/run.sh faults

# lib/ includes only downward (scripts/check-layers.sh); tests/tools/layers.sh
# runs it too, so `make test` fails on an upward include.
check-layers:
	@sh scripts/check-layers.sh lib

check-asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined' test

-include tests/bench/bench.mk
-include tests/fuzz/fuzz.mk
-include pipelines/demo.mk

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include/dm $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libdm.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libdm.so $(DESTDIR)$(PREFIX)/lib/libdm.so.$(VERSION)
	ln -sf libdm.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libdm.so.0
	ln -sf libdm.so.0 $(DESTDIR)$(PREFIX)/lib/libdm.so
	for h in $(HEADERS:lib/%=%); do install -D -m 644 lib/$$h $(DESTDIR)$(PREFIX)/include/dm/$$h || exit 1; done
	install -m 644 $(BUILD)/dm.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	$(if $(MAN1),install -m 644 $(MAN1) $(DESTDIR)$(PREFIX)/share/man/man1/)
	$(if $(MAN5),install -m 644 $(MAN5) $(DESTDIR)$(PREFIX)/share/man/man5/)
	$(if $(MAN7),install -m 644 $(MAN7) $(DESTDIR)$(PREFIX)/share/man/man7/)

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(TOOLS)))
	rm -f $(DESTDIR)$(PREFIX)/lib/libdm.a $(DESTDIR)$(PREFIX)/lib/libdm.so \
	  $(DESTDIR)$(PREFIX)/lib/libdm.so.0 $(DESTDIR)$(PREFIX)/lib/libdm.so.$(VERSION) \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/dm.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/dm
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/man1/,$(notdir $(MAN1))) \
	  $(addprefix $(DESTDIR)$(PREFIX)/share/man/man5/,$(notdir $(MAN5))) \
	  $(addprefix $(DESTDIR)$(PREFIX)/share/man/man7/,$(notdir $(MAN7)))

clean:
	rm -rf build build-asan build-fuzz out

help:
	@sed -n '3,11p' Makefile

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
