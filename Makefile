# tablecart — build, run and test.
#
#   make run    install what is missing, build, serve the demo restaurant on :8080
#   make test   install what is missing, build, run every suite (also under ASan+UBSan)
#
# Everything else here is a building block of those two.

PKGS      = libuv jansson sqlite3 hiredis libjwt openssl liburing
WARN      = -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wstrict-prototypes -Werror
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(WARN) -Isrc $(shell pkg-config --cflags $(PKGS))
LIBS      = $(shell pkg-config --libs $(PKGS)) -lwslay -lhttp_parser -lm

# Three variants: release (build/), ASan+UBSan (build/asan/), and
# ThreadSanitizer (build/tsan/) for the code that runs on more than one
# thread (the SQLite store's writer thread).
REL_FLAGS  = -O2 -g
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
TSAN_FLAGS = -O1 -g -fsanitize=thread

SRCS      := $(shell find src -name '*.c' | sort)
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
UNIT_SRCS := $(shell find tests/unit -name 'test_*.c' 2>/dev/null | sort)

REL_OBJS   := $(SRCS:%.c=build/obj/%.o)
ASAN_OBJS  := $(SRCS:%.c=build/asan/obj/%.o)
TSAN_OBJS  := $(SRCS:%.c=build/tsan/obj/%.o)
# The unit tests of what runs on the writer thread, run again under TSan.
TSAN_UNITS := build/tsan/unit/store/test_store build/tsan/unit/store/test_sqlite \
              build/tsan/unit/store/test_sqlite_ckpt build/tsan/unit/store/test_diners \
              build/tsan/unit/store/test_wake build/tsan/unit/core/test_log
# The integration tests that drive the writer thread hardest.
TSAN_SUITES := tests/integration/test_cart_api.py tests/integration/test_store.py \
               tests/integration/test_crash.py tests/integration/live/test_live_both.py
REL_UNITS  := $(UNIT_SRCS:tests/unit/%.c=build/unit/%)
ASAN_UNITS := $(UNIT_SRCS:tests/unit/%.c=build/asan/unit/%)

PYTEST = /usr/bin/python3 -m pytest -q -p no:cacheprovider
# The integration suites wait on sockets, timers and child processes far more
# than they compute (a 2-core machine sat 80% idle under two workers): four
# workers (pytest-xdist) take about half the wall time of two, even under
# ASan. Every test starts its own servers on port 0 and its own temporary
# folders. PYTEST_WORKERS=2 for a slower or busier machine.
PYTEST_WORKERS ?= 4
PYTEST_PAR = $(PYTEST) -n $(PYTEST_WORKERS)

.PHONY: all run test deps deps-test build asan tsan unit unit-asan integration integration-asan \
        tsan-tests tsan-units tsan-integration e2e fuzz-smoke fuzz-long test-all lane-server \
        lane-browser clean format bench bench-deps bench-smoke install

all: build

# --- the two commands -------------------------------------------------------

run: deps
	@$(MAKE) --no-print-directory build
	@scripts/run-demo.sh

test: deps-test
	@$(MAKE) --no-print-directory test-all

deps:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

# Everything is compiled first, on every core; the unit tests (which wait on timers of a few
# hundred ms) run next on their own; then two lanes side by side, each lane one suite after
# another: the three pytest runs (release, ASan+UBSan, TSan) and the fuzzers' smoke run in one,
# the browser tests and the benchmarks' smoke run in the other. The pytest suites mostly wait on
# sockets, timers and child processes: beside the browser tests the whole takes about the longer
# lane (docs/testing.md). Each lane's output is kept together (--output-sync=recurse: a lane
# prints when it ends).
test-all:
	@$(MAKE) --no-print-directory -j$(shell nproc) build asan tsan $(REL_UNITS) $(ASAN_UNITS) \
	    $(TSAN_UNITS) build/bench/tcload
	@$(MAKE) --no-print-directory unit unit-asan tsan-units
	@$(MAKE) --no-print-directory -j2 --output-sync=recurse lane-server lane-browser
	@echo "all suites passed"

# The two lanes of test-all (-j1: one suite at a time within a lane).
lane-server:
	@$(MAKE) --no-print-directory -j1 integration integration-asan tsan-integration fuzz-smoke

lane-browser:
	@$(MAKE) --no-print-directory -j1 e2e bench-smoke

# --- build ------------------------------------------------------------------

build: build/tablecart
asan: build/asan/tablecart
tsan: build/tsan/tablecart

# V=1 shows the whole compiler command lines.
Q = $(if $(V),,@)

build/tablecart: $(REL_OBJS)
	@echo "  LINK $@"
	$(Q)$(CC) $(REL_FLAGS) -o $@ $^ $(LIBS)

build/asan/tablecart: $(ASAN_OBJS)
	@echo "  LINK $@"
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

build/tsan/tablecart: $(TSAN_OBJS)
	@echo "  LINK $@"
	$(Q)$(CC) $(TSAN_FLAGS) -o $@ $^ $(LIBS)

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	$(Q)$(CC) $(CFLAGS_ALL) $(REL_FLAGS) -MMD -MP -c -o $@ $<

build/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC   $< (asan)"
	$(Q)$(CC) $(CFLAGS_ALL) $(ASAN_FLAGS) -MMD -MP -c -o $@ $<

build/tsan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC   $< (tsan)"
	$(Q)$(CC) $(CFLAGS_ALL) $(TSAN_FLAGS) -MMD -MP -c -o $@ $<

# --- unit tests (cmocka), one binary per tests/unit/**/test_*.c --------------

build/unit/%: tests/unit/%.c $(filter-out build/obj/src/main.o,$(REL_OBJS))
	@mkdir -p $(dir $@)
	@echo "  TEST $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Itests/unit $(REL_FLAGS) -o $@ $^ $(LIBS) -lcmocka

build/asan/unit/%: tests/unit/%.c $(filter-out build/asan/obj/src/main.o,$(ASAN_OBJS))
	@mkdir -p $(dir $@)
	@echo "  TEST $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Itests/unit $(ASAN_FLAGS) -o $@ $^ $(LIBS) -lcmocka

build/tsan/unit/%: tests/unit/%.c $(filter-out build/tsan/obj/src/main.o,$(TSAN_OBJS))
	@mkdir -p $(dir $@)
	@echo "  TEST $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Itests/unit $(TSAN_FLAGS) -o $@ $^ $(LIBS) -lcmocka

unit: $(REL_UNITS)
	@scripts/run-units.sh $(REL_UNITS)

unit-asan: $(ASAN_UNITS)
	@scripts/run-units.sh $(ASAN_UNITS)

# --- integration (pytest against the real binary) ---------------------------

integration: build
	TABLECART_BIN=$(CURDIR)/build/tablecart $(PYTEST_PAR) tests/integration

integration-asan: asan
	TABLECART_BIN=$(CURDIR)/build/asan/tablecart TABLECART_ASAN=1 $(PYTEST_PAR) tests/integration

# --- ThreadSanitizer: the writer thread's unit tests and the suites that drive it

tsan-tests: tsan-units tsan-integration

tsan-units: $(TSAN_UNITS)
	@TSAN_OPTIONS=halt_on_error=1 scripts/run-units.sh $(TSAN_UNITS)

tsan-integration: tsan
	TABLECART_BIN=$(CURDIR)/build/tsan/tablecart TABLECART_ASAN=1 $(PYTEST_PAR) $(TSAN_SUITES)

# --- browser tests (Playwright + Debian's Chromium) -------------------------

e2e: build
	@cd tests/e2e && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; }
	cd tests/e2e && TABLECART_BIN=$(CURDIR)/build/tablecart node --test --test-concurrency=1 *.test.mjs

# --- benchmarks (print their figures; not part of make test) -----------------

# tcload, the load generator (bench/load/), is ours too: the same warnings as the server.
LOAD_SRCS := $(sort $(wildcard bench/load/*.c))
LOAD_OBJS := $(LOAD_SRCS:%.c=build/obj/%.o)

build/bench/tcload: $(LOAD_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LINK $@"
	$(Q)$(CC) $(REL_FLAGS) -o $@ $^ $(shell pkg-config --libs libuv libcrypto)

bench-deps:
	@scripts/install-deps.sh bench

bench: bench-deps build build/bench/tcload
	/usr/bin/python3 bench/compare.py --bin $(CURDIR)/build/tablecart --load $(CURDIR)/build/bench/tcload
	/usr/bin/python3 bench/idle_memory.py --bin $(CURDIR)/build/tablecart
	/usr/bin/python3 bench/fanout.py --bin $(CURDIR)/build/tablecart
	/usr/bin/python3 bench/hostile_memory.py --bin $(CURDIR)/build/tablecart
	/usr/bin/python3 bench/soak.py --bin $(CURDIR)/build/tablecart
	/usr/bin/python3 bench/diners100k.py --bin $(CURDIR)/build/tablecart --load $(CURDIR)/build/bench/tcload

# Every script of make bench, small and short, against tablecart alone: the
# benchmarks keep running as the server changes (their figures mean nothing
# at this size; compare.py --check fails on a failed change, a missing
# delivery, a gap or a connection not made; the others when they cannot run
# to their end).
BENCH_BIN = --bin $(CURDIR)/build/tablecart
bench-smoke: build build/bench/tcload
	/usr/bin/python3 bench/compare.py $(BENCH_BIN) --load $(CURDIR)/build/bench/tcload --quick \
	    --no-nchan --only idle,fanout,rest --check --out $(CURDIR)/build/bench/smoke
	/usr/bin/python3 bench/idle_memory.py $(BENCH_BIN) --sse 200 --ws 200 --tables 10 --procs 1
	/usr/bin/python3 bench/fanout.py $(BENCH_BIN) --writers 2 --writes 50 --subs 40 --tables 4 --changes 20
	/usr/bin/python3 bench/hostile_memory.py $(BENCH_BIN) --n 5
	/usr/bin/python3 bench/fairness.py $(BENCH_BIN) --changes 100 --rounds 2
	/usr/bin/python3 bench/soak.py $(BENCH_BIN) --minutes 0.15 --tables 50 --round 100 --max-growth 0
	/usr/bin/python3 bench/diners100k.py $(BENCH_BIN) --load $(CURDIR)/build/bench/tcload \
	    --instances 2 --diners 400 --subs 10 --rate 20 --duration 2

# --- fuzzing: a short smoke run in make test; tests/fuzz/run.sh for longer ---

fuzz-smoke:
	@tests/fuzz/run.sh --build
	@tests/fuzz/run.sh --replay
	FUZZ_SECONDS=3 FUZZ_PREBUILT=1 tests/fuzz/run.sh

# Every fuzzer, one at a time, until 10^8 executions in all (FUZZ_TOTAL_EXECS):
# about 40 min on 2 cores; figures in docs/testing.md.
fuzz-long:
	@tests/fuzz/run.sh --replay
	tests/fuzz/long.sh

# --- install (docs/operations.md) ------------------------------------------------
#
# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, the diners' page and the demo menu,
# the systemd unit (its /usr/local paths rewritten to PREFIX) and the nginx site to copy into
# /etc/nginx/sites-available/. Nothing under /etc is written: the menu and the JWT secret are
# the operator's (docs/operations.md, "Install and run as a service").

PREFIX  ?= /usr/local
DESTDIR ?=
# The binary to install (tests/integration/test_deploy.py installs the one under test).
INSTALL_BIN ?= build/tablecart
SHARE    = $(DESTDIR)$(PREFIX)/share/tablecart
UNITDIR  = $(DESTDIR)$(PREFIX)/lib/systemd/system

install: $(INSTALL_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)/web $(SHARE)/data $(UNITDIR)
	install -m 755 $(INSTALL_BIN) $(DESTDIR)$(PREFIX)/bin/tablecart
	cp -R web/. $(SHARE)/web/
	chmod -R u=rwX,go=rX $(SHARE)/web
	install -m 644 data/demo-menu.json $(SHARE)/data/demo-menu.json
	install -m 644 deploy/nginx.conf $(SHARE)/nginx-site.conf
	sed 's|/usr/local/|$(PREFIX)/|g' deploy/tablecart.service > $(UNITDIR)/tablecart.service
	chmod 644 $(UNITDIR)/tablecart.service

format:
	clang-format -i $(SRCS) $(shell find src -name '*.h') $(UNIT_SRCS) $(LOAD_SRCS) bench/load/*.h

clean:
	rm -rf build

-include $(REL_OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(TSAN_OBJS:.o=.d) $(LOAD_OBJS:.o=.d)
