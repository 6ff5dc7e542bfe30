# qdb - interactive quantization debugger. GNU make; dependencies via pkg-config.
#
#   make            build ./qdb
#   make demo       the main job on the bundled demo model
#   make deps       install the Debian packages the build, tests, demo and bench need
#   make check      run the whole test suite (unit tests, ONNX conformance, quantization checks, peers)
#   make check-quant  qdb quantize on the demo models
#   make check-zoo  26 torchvision classification models (exported by PyTorch) against onnxruntime
#   make asan       the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       libFuzzer on the ONNX importer/executor, the operators and the
#                   .npy reader (clang; FUZZ_SECONDS per target, in build-fuzz/)
#   make valgrind   the unit tests under valgrind memcheck
#   make bench      float speed against onnxruntime (same model, input, threads); quantization
#                   accuracy against PyTorch's own PTQ, calibration and simulation speed
#   make models     retrain the bundled demo models (python3-torch; minutes; not in check)
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX     ?= /usr/local
DESTDIR    ?=
PKG_CONFIG ?= pkg-config
CC         ?= cc
BUILD      ?= build
ONNX_PROTO ?= /usr/include/onnx/onnx.proto
PROTOC_C   ?= protoc-c
ONNX_TESTDATA ?= /usr/share/libonnx-testdata/data

VERSION    := 0.1.0
PKGS       := libprotobuf-c openblas libcjson zlib nettle
# The TUI only: linked into the qdb binary, not into the library or the tests
# (ncursesw's cflags define _XOPEN_SOURCE for whatever includes them).
TUI_LIBS   := $(shell $(PKG_CONFIG) --libs ncursesw readline 2>/dev/null)
TEST_PKGS  := cmocka

# GCC's default -O2 cost model vectorizes no loop that needs a run-time alias
# check; the kernels' loops do (measured: MobileNetV2 1.5x faster).
VECT       := $(shell $(CC) -fvect-cost-model=dynamic -x c -c /dev/null -o /dev/null 2>/dev/null \
                && echo -fvect-cost-model=dynamic)
OPT        ?= -O2 $(VECT)
CFLAGS     ?= $(OPT) -g
# -ffp-contract=off: every float operation rounds on its own (no fused
# multiply-add behind the code's back), so a kernel's vector and scalar
# versions give the same bits whatever the compiler (gcc's ISO C default).
QDB_CFLAGS := -std=c11 -pthread -Wall -Wextra -Wshadow -Wno-unused-parameter -ffp-contract=off \
              -D_POSIX_C_SOURCE=200809L -DQDB_VERSION=\"$(VERSION)\" \
              -Iengine -Iengine/quant -Ieditor -Iplotting -Isessions -Itui -Icli -Itests/support -I$(BUILD)/gen \
              $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LIBS       := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lm -pthread
TEST_LIBS  := $(shell $(PKG_CONFIG) --libs $(TEST_PKGS) 2>/dev/null)

GEN_SRC    := $(BUILD)/gen/onnx.pb-c.c
ENGINE_SRC := $(sort $(wildcard engine/*.c engine/ops/*.c engine/quant/*.c editor/*.c plotting/*.c sessions/*.c))
CLI_SRC    := $(sort $(wildcard cli/*.c tui/*.c))
TEST_SRC   := $(sort $(wildcard tests/test_*.c))

LIB_OBJ    := $(GEN_SRC:$(BUILD)/gen/%.c=$(BUILD)/gen/%.o) $(ENGINE_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SUPPORT_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard tests/support/*.c)))
# the fuzz targets link no cmocka: everything but the cmocka-based helpers
FUZZ_SUPPORT_OBJ := $(filter-out $(BUILD)/tests/support/op_harness.o \
                      $(BUILD)/tests/support/quant_fixtures.o \
                      $(BUILD)/tests/support/session_fixture.o,$(TEST_SUPPORT_OBJ))
BENCH_BIN  := $(BUILD)/bench/bench_qdb
BENCH_QUANT_BIN := $(BUILD)/bench/bench_quant
LIB        := $(BUILD)/libqdb.a

.PHONY: all demo deps check check-unit check-tui check-conformance check-eval check-quant check-quant-peer check-peer check-plot check-zoo asan valgrind fuzz \
        fuzz-build bench models install uninstall clean

QDB_BIN    ?= qdb

all: $(QDB_BIN)

# One protoc-c run makes both files (grouped target: make -j runs it once).
$(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h &: $(ONNX_PROTO)
	@mkdir -p $(BUILD)/gen
	cp $(ONNX_PROTO) $(BUILD)/gen/onnx.proto
	cd $(BUILD)/gen && $(PROTOC_C) --c_out=. onnx.proto

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CFLAGS) $(shell $(PKG_CONFIG) --cflags libprotobuf-c) -c $< -o $@

$(BUILD)/%.o: %.c $(BUILD)/gen/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(QDB_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(QDB_BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LIBS) $(TUI_LIBS)

$(BUILD)/tests/conformance: $(BUILD)/tests/conformance.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_SUPPORT_OBJ) $(LIB) $(LIBS) $(TEST_LIBS)

# The TUI's curses-free state (view snapshot, ordering) is unit-tested.
TUI_STATE_OBJ := $(BUILD)/tui/view.o $(BUILD)/tui/state.o
$(BUILD)/tests/test_tui_state: $(BUILD)/tests/test_tui_state.o $(TUI_STATE_OBJ) $(TEST_SUPPORT_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TUI_STATE_OBJ) $(TEST_SUPPORT_OBJ) $(LIB) $(LIBS) $(TEST_LIBS)

$(BENCH_BIN): $(BUILD)/bench/bench_qdb.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

$(BENCH_QUANT_BIN): $(BUILD)/bench/bench_quant.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

deps:
	@scripts/deps.sh

# The main job on the bundled demo.
demo: deps
	@$(MAKE) --no-print-directory qdb
	@scripts/demo.sh

# The README's test command. Installs what is missing first.
check: deps
	@$(MAKE) --no-print-directory check-unit check-tui check-plot check-conformance check-eval check-quant check-quant-peer check-peer check-zoo ZOO_STRICT=1

check-unit: $(QDB_BIN) $(TEST_BIN)
	@scripts/run-tests.sh $(TEST_BIN)

# The TUI end to end: the real binary in a detached tmux session.
check-tui: $(QDB_BIN)
	@QDB=./$(QDB_BIN) tests/tui/tui-check.sh

check-conformance: $(BUILD)/tests/conformance
	@$(BUILD)/tests/conformance $(ONNX_TESTDATA)

check-eval: $(QDB_BIN)
	@QDB=./$(QDB_BIN) scripts/eval-check.sh

check-quant: $(QDB_BIN)
	@QDB=./$(QDB_BIN) OUT=$(BUILD)/quant-check /usr/bin/python3 scripts/quant-check.py

# qdb's 8-bit accuracy drop against PyTorch's own post-training quantization
# (bench/torch_ptq.py) on the demo models: no worse by more than 0.3 points.
check-quant-peer: $(QDB_BIN)
	@QDB=./$(QDB_BIN) QUANT_SPEED=0 PEER_DIR=$(BUILD)/peer bench/quant.sh

# qdb plot / qdb report on the demo model, the report opened in headless
# Chromium (scripts/plot-check.sh; also prints the time of plot --all).
check-plot: $(QDB_BIN)
	@QDB=./$(QDB_BIN) OUT=$(BUILD)/plot-check scripts/plot-check.sh

check-peer: $(QDB_BIN)
	@QDB=./$(QDB_BIN) scripts/peer-check.sh

# Exports are cached in build/zoo (about 2 GB). `make check` runs it strict:
# a model qdb refuses fails the check.
ZOO_STRICT ?= 0
check-zoo: $(QDB_BIN)
	@ZOO_STRICT=$(ZOO_STRICT) QDB=./$(QDB_BIN) scripts/zoo-check.sh

# Regenerates the bundled demo models (models/demo_*.onnx, their profiles and
# PyTorch's test-set predictions) from Fashion-MNIST: needs Debian's
# python3-torch, takes several minutes on CPU. Not part of the build or check;
# the committed files are what the tests use.
models:
	/usr/bin/python3 models/train_demo.py

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan QDB_BIN=build-asan/qdb CC=clang \
	    OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    check-unit check-conformance
	@ASAN_OPTIONS=log_path=$(CURDIR)/build-asan/tui-asan UBSAN_OPTIONS=log_path=$(CURDIR)/build-asan/tui-asan \
	    QDB=build-asan/qdb TUI_WAIT_SCALE=10 tests/tui/tui-check.sh
	@if ls build-asan/tui-asan* >/dev/null 2>&1; then \
	    echo "asan: the TUI reported errors:"; cat build-asan/tui-asan*; rm -f build-asan/tui-asan*; exit 1; fi

# Coverage-guided fuzzing (clang's libFuzzer + ASan + UBSan). The library is
# built with fuzzer instrumentation in $(FUZZ_BUILD); scripts/fuzz.sh makes
# the seed corpora at run time and runs each target (tests/fuzz/fuzz_*.c) for
# FUZZ_SECONDS. Allocations above 256 MiB fail in the fuzzers (fuzz_alloc.c),
# to check that they come back as clean errors. To go on after a crash:
#   make fuzz FUZZ_ARGS="-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1"
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined

FUZZ_WRAP    := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(BUILD)/tests/fuzz/fuzz_alloc.o $(FUZZ_SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) $(FUZZ_WRAP) -o $@ $< \
	    $(BUILD)/tests/fuzz/fuzz_alloc.o $(FUZZ_SUPPORT_OBJ) $(LIB) $(LIBS)

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT="$(FUZZ_SAN)" \
	    $(FUZZ_BUILD)/fuzz/fuzz_onnx $(FUZZ_BUILD)/fuzz/fuzz_npy $(FUZZ_BUILD)/fuzz/fuzz_ops

fuzz: fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) ONNX_TESTDATA=$(ONNX_TESTDATA) \
	    FUZZ_ARGS="$(FUZZ_ARGS)" scripts/fuzz.sh

# The unit tests under valgrind's memcheck (leaks are errors).
valgrind: $(TEST_BIN)
	@RUNNER="valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect" \
	    scripts/run-tests.sh $(TEST_BIN)

bench: qdb $(BENCH_BIN) $(BENCH_QUANT_BIN)
	@scripts/deps.sh
	@BUILD=$(BUILD) bench/run.sh
	@BUILD=$(BUILD) QDB=./$(QDB_BIN) bench/quant.sh
	@QDB=./$(QDB_BIN) bench/plot.sh

install: $(QDB_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(QDB_BIN) $(DESTDIR)$(PREFIX)/bin/qdb

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/qdb

clean:
	rm -rf build build-asan qdb

# Keep objects make considers intermediate (tests, bench).
.SECONDARY:

-include $(shell find $(BUILD) -name "*.d" 2>/dev/null)
