# taskring - one non-recursive Makefile.
#
# Sources are found by directory, so adding a file needs no edit here:
#   common/*.c  -> libtaskring.a / libtaskring.so (the public library)
#   config/*.c  -> config objects (linked into taskringd and tests)
#   worker/*.c  -> worker objects (linked into taskringd and tests)
#   daemon/*.c  -> taskringd
#   cli/*.c     -> taskring
#   tests/unit/*.c -> one TAP test program each
#   bench/*.c   -> one benchmark program each
#   examples/*.c -> example handler plugins (shared objects)
#
# B selects the build directory; SAN=asan|tsan builds with sanitizers.
# `make check` runs every suite plain and under ASan+UBSan (and the queue
# suites under TSan).

B       ?= build
SAN     ?=
CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
PKGS    := liburing yaml-0.1

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -luring -lyaml)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
CFLAGS  ?= -O2 -g
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -fPIC -pthread $(WARN) -Iinclude -Icommon -Iconfig \
	-Iworker -Idaemon $(PKG_CFLAGS) -MMD -MP
LDLIBS  := $(PKG_LIBS) -lm -lpthread -ldl

ifeq ($(SAN),asan)
BASE_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SAN),tsan)
BASE_CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
endif

ALL_CFLAGS = $(BASE_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)

COMMON_SRC := $(wildcard common/*.c)
CONFIG_SRC := $(wildcard config/*.c)
WORKER_SRC := $(wildcard worker/*.c)
DAEMON_SRC := $(wildcard daemon/*.c)
CLI_SRC    := $(wildcard cli/*.c)
TEST_SRC   := $(wildcard tests/unit/*.c)
BENCH_SRC  := $(wildcard bench/*.c)
PLUGIN_SRC := $(wildcard examples/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

COMMON_OBJ := $(call obj,$(COMMON_SRC))
CONFIG_OBJ := $(call obj,$(CONFIG_SRC))
WORKER_OBJ := $(call obj,$(WORKER_SRC))
DAEMON_OBJ := $(call obj,$(DAEMON_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))

LIB_A   := $(B)/libtaskring.a
LIB_SO  := $(B)/libtaskring.so
INT_A   := $(B)/libtrinternal.a
DAEMON  := $(B)/taskringd
CLI     := $(B)/taskring
TESTS   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(TEST_SRC))
BENCHES := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))
PLUGINS := $(patsubst examples/%.c,$(B)/plugins/%.so,$(PLUGIN_SRC))

.PHONY: all deps check check-run check-asan check-tsan check-valgrind lint demo bench \
	bench-smoke fuzz install uninstall clean

all: $(LIB_A) $(LIB_SO) $(DAEMON) $(CLI) $(TESTS) $(BENCHES) $(PLUGINS)

deps:
	@scripts/install-deps

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB_A): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(COMMON_OBJ)
	$(CC) -shared -Wl,-soname,libtaskring.so.0 $(LDFLAGS) -o $@ $^ -lpthread

# config + worker code shared by the daemon and the tests.
$(INT_A): $(CONFIG_OBJ) $(WORKER_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(DAEMON): $(DAEMON_OBJ) $(INT_A) $(LIB_A)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(CLI): $(CLI_OBJ) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests link the daemon's objects too (minus its main) so they can drive them.
DAEMON_LIB_OBJ := $(filter-out $(B)/obj/daemon/main.o,$(DAEMON_OBJ))
$(B)/tests/%: tests/unit/%.c $(DAEMON_LIB_OBJ) $(INT_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(B)/bench/%: bench/%.c $(INT_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/plugins/%.so: examples/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared $(LDFLAGS) -o $@ $<

# ---- tests ----------------------------------------------------------------
# Every test is an executable that prints TAP; prove runs them. Integration
# scripts find the binaries through TASKRING_BUILD.
INTEG := $(sort $(wildcard tests/integ/*.t))
PROVE := prove --exec '' --timer -j2

check: deps-test
	$(MAKE) all
	$(MAKE) check-run
	$(MAKE) check-asan
	$(MAKE) check-tsan

deps-test:
	@scripts/install-deps --test

check-run: all
	TASKRING_BUILD=$(abspath $(B)) $(PROVE) $(TESTS) $(INTEG)

check-asan:
	$(MAKE) B=build-asan SAN=asan check-run

# Thread-sharing suites under TSan: the unit tests (queue, worker io thread).
check-tsan:
	$(MAKE) B=build-tsan SAN=tsan all
	TASKRING_BUILD=$(abspath build-tsan) TSAN_OPTIONS=halt_on_error=1 \
		$(PROVE) $(patsubst $(B)/%,build-tsan/%,$(TESTS))

check-valgrind: all
	@for t in $(TESTS); do \
		TASKRING_BUILD=$(abspath $(B)) TASKRING_VALGRIND=1 valgrind -q --error-exitcode=99 \
			--leak-check=full --errors-for-leak-kinds=definite $$t >/dev/null || exit 1; \
		echo "valgrind ok: $$t"; \
	done

LINT_SRC = $(wildcard include/*.h common/*.[ch] config/*.[ch] worker/*.[ch] daemon/*.[ch] \
	cli/*.[ch] tests/unit/*.[ch] bench/*.[ch] examples/*.[ch] fuzz/*.[ch])
lint:
	clang-format --dry-run --Werror $(LINT_SRC)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem -D_GNU_SOURCE -Iinclude -Icommon -Iconfig -Iworker \
		-Idaemon common config worker daemon cli

demo: deps
	$(MAKE) all
	scripts/demo $(abspath $(B))

bench: all
	scripts/bench $(abspath $(B))

bench-smoke: all
	scripts/bench --smoke $(abspath $(B))

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
