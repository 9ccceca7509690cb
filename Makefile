# lvseg - left-ventricle segmentation filters.
#   make                  build the libraries and every program into bin/
#   make test             run the C unit tests and the bats suites
#   make test-fast        the same without the tests tagged slow
#   make bench-build      the engine benchmarks (also built by all)
#   make fuzz FUZZ_SECONDS=N   libFuzzer harnesses (clang), N s each
#   make demo             the main job on built-in phantom data
#   make install PREFIX=/usr/local DESTDIR=
#   make SANITIZE=1       AddressSanitizer + UBSan build (in build/san/)
#   make WERROR=1         warnings are errors (CI)
# Honours CC, CXX, CFLAGS, CXXFLAGS, LDFLAGS.  Probes for its dependencies,
# says what it found, and runs scripts/install-deps.sh when one is missing.

CC ?= cc
CXX ?= c++
CFLAGS ?= -O2 -g
CXXFLAGS ?= -O2 -g
PREFIX ?= /usr/local
PYTHON ?= /usr/bin/python3
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))

ifeq ($(SANITIZE),1)
BUILD ?= build/san
BIN ?= build/san/bin
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
BIN ?= bin
SANFLAGS =
endif

WARN = -Wall -Wextra
ifeq ($(WERROR),1)
WARN += -Werror
endif

# --- dependency probe -------------------------------------------------------
PKGS = msgpack openblas libpng zlib
HAVE_PKGS := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)
HAVE_GDCM := $(shell test -f /usr/include/gdcm-3.0/gdcmImageReader.h && echo yes)
HAVE_BATS := $(shell command -v bats >/dev/null 2>&1 && test -d /usr/lib/bats/bats-assert && echo yes)
# every package of the list (the tests' tools too: GNU time, Pillow, ...)
HAVE_DEBS := $(shell scripts/install-deps.sh --check && echo yes)
ifneq ($(HAVE_PKGS)$(HAVE_GDCM)$(HAVE_BATS)$(HAVE_DEBS),yesyesyesyes)
$(info lvseg: dependencies missing, running scripts/install-deps.sh)
DEPS_RC := $(shell scripts/install-deps.sh >&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error scripts/install-deps.sh failed)
endif
endif
HAVE_CUDNN := $(shell test -n "$(NVCC)" && test -f $(CUDA_HOME)/include/cudnn.h && echo yes)
ifeq ($(HAVE_CUDNN),yes)
GPU_SRCS := $(wildcard gpu/*.cu)
else
GPU_SRCS :=
endif
ifndef LVSEG_PROBED
$(info lvseg: msgpack-c $(shell pkg-config --modversion msgpack), OpenBLAS $(shell pkg-config --modversion openblas), libpng $(shell pkg-config --modversion libpng), GDCM $(if $(HAVE_GDCM),3.0,missing))
$(info lvseg: GPU backend: $(if $(HAVE_CUDNN),nvcc $(NVCC) and cuDNN found ($(words $(GPU_SRCS)) sources),not built (nvcc or cudnn.h not found)))
export LVSEG_PROBED = 1
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))
GDCM_CFLAGS = -I/usr/include/gdcm-3.0
GDCM_LIBS = -lgdcmMSFF -lgdcmDSED -lgdcmDICT -lgdcmIOD -lgdcmCommon -lgdcmMEXD

ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) $(SANFLAGS) -fopenmp -MMD -MP \
	-Ilibstream -Ilibfcn -Ifilters/lib $(PKG_CFLAGS) $(CFLAGS)
ALL_CXXFLAGS = -std=c++17 $(WARN) $(SANFLAGS) -MMD -MP -Ilibstream \
	-Ifilters/lib $(GDCM_CFLAGS) $(CXXFLAGS)
ALL_LDFLAGS = $(SANFLAGS) -fopenmp -Wl,--as-needed $(LDFLAGS)
LIBS = $(PKG_LIBS) $(GDCM_LIBS) -lstdc++ -lm

# --- sources ----------------------------------------------------------------
STREAM_SRCS := $(wildcard libstream/*.c)
FCN_SRCS := $(wildcard libfcn/*.c)
UTIL_SRCS := $(wildcard filters/lib/*.c)
UTIL_CXX_SRCS := $(wildcard filters/lib/*.cpp)
PROG_SRCS := $(wildcard filters/*.c)
PROGS := $(patsubst filters/%.c,$(BIN)/%,$(PROG_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNITS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS)) \
	$(BUILD)/tests/test_stream_chunk61

LIBSTREAM = $(BUILD)/libstream.a
LIBFCN = $(BUILD)/libfcn.a
LIBUTIL = $(BUILD)/libutil.a
ALL_LIBS = $(LIBUTIL) $(LIBFCN) $(LIBSTREAM)

obj = $(patsubst %.c,$(BUILD)/%.o,$(patsubst %.cpp,$(BUILD)/%.o,$(1)))

BENCH = $(BUILD)/bench/fcn_bench
CONV3_BENCH = $(BUILD)/bench/conv3_bench
SHIM = $(BUILD)/tests/failshim.so

.PHONY: all test test-fast bench-build fuzz fuzz-build demo install clean
.SECONDARY:
all: $(PROGS) $(UNITS) $(BENCH) $(CONV3_BENCH) $(SHIM)
bench-build: $(BENCH) $(CONV3_BENCH)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) -c -o $@ $<

$(LIBSTREAM): $(call obj,$(STREAM_SRCS))
$(LIBFCN): $(call obj,$(FCN_SRCS))
$(LIBUTIL): $(call obj,$(UTIL_SRCS) $(UTIL_CXX_SRCS))
$(ALL_LIBS):
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN)/%: $(BUILD)/filters/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(ALL_LIBS) $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/tests/unit/tap.o $(LIBFCN) $(LIBSTREAM)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/tests/unit/tap.o $(LIBFCN) $(LIBSTREAM) $(LIBS)

# test_stream again on a reader that reads 61 bytes at a time: every
# record crosses its reads, and headers straddle them.
CHUNK61_OBJS := $(patsubst %.c,$(BUILD)/chunk61/%.o,$(STREAM_SRCS))
$(BUILD)/chunk61/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DST_READ_CHUNK=61 -c -o $@ $<
$(BUILD)/tests/test_stream_chunk61: $(BUILD)/tests/unit/test_stream.o $(BUILD)/tests/unit/tap.o $(CHUNK61_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BENCH): $(BUILD)/bench/fcn_bench.o $(LIBFCN) $(LIBSTREAM)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBFCN) $(LIBSTREAM) $(LIBS)
$(CONV3_BENCH): $(BUILD)/bench/conv3_bench.o $(LIBFCN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBFCN) $(LIBS)

# The failure-injection shim (LD_PRELOAD): never sanitized, it must not
# carry an ASan runtime of its own.
$(SHIM): tests/shim/failshim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c17 -D_GNU_SOURCE $(WARN) -O2 -fPIC -shared -o $@ $< -ldl

# --- tests ------------------------------------------------------------------
TEST_ENV = BIN=$(abspath $(BIN)) UNITS="$(UNITS)" PYTHON=$(PYTHON) \
	FAILSHIM=$(abspath $(SHIM)) LVSEG_SANITIZED=$(if $(SANFLAGS),1,0)
test: all
	@$(TEST_ENV) tests/run.sh $(BATS_FILES)

test-fast: all
	@$(TEST_ENV) LVSEG_FAST=1 tests/run.sh $(BATS_FILES)

# --- fuzzing (clang's libFuzzer + ASan + UBSan; see docs/reliability.md) ----
FUZZ_SECONDS ?= 10
FUZZ_CC ?= clang
FUZZ_CXX ?= clang++
FUZZ_DIR = build/fuzz
FUZZ_TARGETS = stream contour pbtext model caffemodel dicom
FUZZ_SAN = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=c17 -D_GNU_SOURCE $(FUZZ_SAN) -fopenmp -Ilibstream -Ilibfcn \
	-Ifilters/lib $(PKG_CFLAGS) -DST_READ_CHUNK=61
FUZZ_LIBSRC = $(STREAM_SRCS) $(FCN_SRCS) filters/lib/util.c filters/lib/rng.c
FUZZ_OBJS = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_LIBSRC)) \
	$(FUZZ_DIR)/obj/filters/lib/dicom.o
$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
$(FUZZ_DIR)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) -std=c++17 $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP \
		-Ilibstream -Ifilters/lib $(GDCM_CFLAGS) -c -o $@ $<
$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Ifilters -fsanitize=fuzzer \
		-fsanitize-link-c++-runtime -o $@ $< $(FUZZ_OBJS) \
		$(LIBS)
fuzz-build: $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))
fuzz: fuzz-build all
	@FUZZ_SECONDS=$(FUZZ_SECONDS) BIN=$(abspath $(BIN)) FUZZ_DIR=$(FUZZ_DIR) \
		PYTHON=$(PYTHON) fuzz/run.sh $(FUZZ_TARGETS)

demo: all
	@BIN=$(abspath $(BIN)) PYTHON=$(PYTHON) pipelines/demo.sh $(DATA)

# --- install ----------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 libstream/st.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(LIBSTREAM) $(DESTDIR)$(PREFIX)/lib/
	sed -e 's|@PREFIX@|$(PREFIX)|' libstream/libstream.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/libstream.pc

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
