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

# V=1 shows the full commands.
V ?= 0
ifeq ($(V),0)
Q = @
E = @echo
else
Q =
E = @:
endif

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(E) "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB_A): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(E) "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# The soname's number is TASKRING_ABI of include/taskring.h: it changes
# whenever a program built against the previous libtaskring.so could break
# (a public struct changed size: 1 since 0.3.0).
TR_SOMAJOR := $(shell sed -n 's/^\#define TASKRING_ABI \([0-9]*\)$$/\1/p' include/taskring.h)

$(LIB_SO): $(COMMON_OBJ)
	$(E) "  LD      $@"
	$(Q)$(CC) -shared -Wl,-soname,libtaskring.so.$(TR_SOMAJOR) $(LDFLAGS) -o $@ $^ -lpthread

# config + worker code shared by the daemon and the tests.
$(INT_A): $(CONFIG_OBJ) $(WORKER_OBJ)
	@mkdir -p $(dir $@)
	$(E) "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(DAEMON): $(DAEMON_OBJ) $(INT_A) $(LIB_A)
	$(E) "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(CLI): $(CLI_OBJ) $(LIB_A)
	$(E) "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests link the daemon's objects too (minus its main) so they can drive them.
DAEMON_LIB_OBJ := $(filter-out $(B)/obj/daemon/main.o,$(DAEMON_OBJ))
$(B)/tests/%: tests/unit/%.c $(DAEMON_LIB_OBJ) $(INT_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(E) "  TEST    $@"
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(B)/bench/%: bench/%.c $(INT_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(E) "  BENCH   $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/plugins/%.so: examples/%.c
	@mkdir -p $(dir $@)
	$(E) "  PLUGIN  $@"
	$(Q)$(CC) $(ALL_CFLAGS) -shared $(LDFLAGS) -o $@ $<

# ---- tests ----------------------------------------------------------------
# Every test is an executable that prints TAP; prove runs them. Integration
# scripts find the binaries through TASKRING_BUILD.
# The longest scripts start first so that the two prove slots end together
# (CI time: hostile.t alone ran for the last 48 s when it started last).
INTEG_SLOW := tests/integ/hostile.t tests/integ/daemon-stop.t tests/integ/chaos-workers.t \
	tests/integ/daemon-reload.t tests/integ/daemon-timeout.t tests/integ/chaos-signals.t
INTEG := $(filter-out $(INTEG_SLOW),$(sort $(wildcard tests/integ/*.t)))
PROVE := prove --exec '' --timer -j2

check: deps-test
	$(MAKE) all
	$(MAKE) check-run
	$(MAKE) check-asan
	$(MAKE) check-tsan

deps-test:
	@scripts/install-deps --test

check-run: all
	TASKRING_BUILD=$(abspath $(B)) $(PROVE) $(INTEG_SLOW) $(TESTS) $(INTEG)

check-asan:
	$(MAKE) B=build-asan SAN=asan check-run

# Thread-sharing suites under TSan: the unit tests (queue, worker io thread).
check-tsan:
	$(MAKE) B=build-tsan SAN=tsan all
	TASKRING_BUILD=$(abspath build-tsan) TSAN_OPTIONS=halt_on_error=1 \
		$(PROVE) $(patsubst $(B)/%,build-tsan/%,$(TESTS))

# The unit suite under valgrind memcheck: any error or definite leak fails
# (exit 99). Tests that need what valgrind 3.19 cannot emulate (pidfd_open,
# io_uring threads) say so and skip themselves when TASKRING_VALGRIND is set.
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--child-silent-after-fork=yes
check-valgrind: all
	TASKRING_BUILD=$(abspath $(B)) TASKRING_VALGRIND=1 TR_STORM_S=3 \
		prove --exec '$(VALGRIND)' --timer -j2 $(TESTS)

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

# ---- install (systemd/, man/) ----
# `make install` copies what `make` built into $(B); it builds nothing itself (run
# `make` first), so it never rebuilds as root or with other flags. PREFIX and DESTDIR
# as usual; B may be relative or absolute. Files that name install paths (the unit,
# taskring.pc) are generated from their .in templates with the final paths, without
# DESTDIR. The configuration goes to $(SYSCONFDIR)/taskring/ only when none is there,
# and `make uninstall` removes everything else but never the configuration.
BINDIR         ?= $(PREFIX)/bin
SBINDIR        ?= $(PREFIX)/sbin
LIBDIR         ?= $(PREFIX)/lib
INCLUDEDIR     ?= $(PREFIX)/include
PKGCONFIGDIR   ?= $(LIBDIR)/pkgconfig
MANDIR         ?= $(PREFIX)/share/man
SYSCONFDIR     ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR    ?= $(PREFIX)/lib/tmpfiles.d
INSTALL_CONFIG ?= config/taskring.yaml
INSTALL        ?= install

TR_VERSION  := $(shell sed -n 's/^\#define TASKRING_VERSION "\(.*\)"$$/\1/p' include/taskring.h)
TR_HEADERS  := $(wildcard include/*.h)
TR_MANPAGES := $(wildcard man/*.[1-8])
TR_CONFDEST := $(DESTDIR)$(SYSCONFDIR)/taskring/taskring.yaml
# man/NAME.N -> $(MANDIR)/manN/NAME.N
tr_mandest   = $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(1)))/$(notdir $(1))
TR_SUBST     = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
	-e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	-e 's|@VERSION@|$(TR_VERSION)|g'

install:
	@for f in $(CLI) $(DAEMON) $(LIB_A) $(LIB_SO); do \
		[ -f "$$f" ] || { echo "make install: $$f is missing; run 'make B=$(B)' first" >&2; \
			exit 1; }; \
	done
	@[ -n "$(TR_VERSION)" ] || { echo "make install: no TASKRING_VERSION in include/taskring.h" >&2; \
		exit 1; }
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	$(INSTALL) -m 0755 $(CLI) $(DESTDIR)$(BINDIR)/taskring
	$(INSTALL) -m 0755 $(DAEMON) $(DESTDIR)$(SBINDIR)/taskringd
	$(INSTALL) -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libtaskring.a
	$(INSTALL) -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libtaskring.so.$(TR_VERSION)
	ln -sf libtaskring.so.$(TR_VERSION) $(DESTDIR)$(LIBDIR)/libtaskring.so.$(TR_SOMAJOR)
	ln -sf libtaskring.so.$(TR_SOMAJOR) $(DESTDIR)$(LIBDIR)/libtaskring.so
	$(INSTALL) -m 0644 $(TR_HEADERS) $(DESTDIR)$(INCLUDEDIR)/
	$(TR_SUBST) taskring.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/taskring.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/taskring.pc
	$(TR_SUBST) systemd/taskring.service.in >$(DESTDIR)$(SYSTEMDUNITDIR)/taskring.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/taskring.service
	$(INSTALL) -m 0644 systemd/taskring.sysusers $(DESTDIR)$(SYSUSERSDIR)/taskring.conf
	$(INSTALL) -m 0644 systemd/taskring.tmpfiles $(DESTDIR)$(TMPFILESDIR)/taskring.conf
	$(foreach p,$(TR_MANPAGES),$(INSTALL) -D -m 0644 $(p) $(call tr_mandest,$(p)) &&) true
	if [ -e $(TR_CONFDEST) ]; then echo "make install: kept the existing $(TR_CONFDEST)"; \
	else $(INSTALL) -D -m 0644 $(INSTALL_CONFIG) $(TR_CONFDEST); fi
ifeq ($(DESTDIR),)
	-ldconfig
	-systemd-sysusers $(SYSUSERSDIR)/taskring.conf
	-systemd-tmpfiles --create $(TMPFILESDIR)/taskring.conf
	-[ ! -d /run/systemd/system ] || systemctl daemon-reload
endif

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/taskring $(DESTDIR)$(SBINDIR)/taskringd
	rm -f $(DESTDIR)$(LIBDIR)/libtaskring.a $(DESTDIR)$(LIBDIR)/libtaskring.so \
		$(DESTDIR)$(LIBDIR)/libtaskring.so.*
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/,$(notdir $(TR_HEADERS)))
	rm -f $(DESTDIR)$(PKGCONFIGDIR)/taskring.pc $(DESTDIR)$(SYSTEMDUNITDIR)/taskring.service \
		$(DESTDIR)$(SYSUSERSDIR)/taskring.conf $(DESTDIR)$(TMPFILESDIR)/taskring.conf
	rm -f $(foreach p,$(TR_MANPAGES),$(call tr_mandest,$(p)))
	@[ ! -e $(TR_CONFDEST) ] || echo "make uninstall: kept $(TR_CONFDEST) (remove it by hand)"
ifeq ($(DESTDIR),)
	-ldconfig
	-[ ! -d /run/systemd/system ] || systemctl daemon-reload
endif
# ---- end install ----

# ---- fuzz ----
# `make fuzz`: builds every fuzz/fuzz_*.c with clang's libFuzzer plus ASan and UBSan
# into build-fuzz/ and runs each for FUZZ_SECONDS (default 30) on a fresh copy of
# its seed corpus fuzz/corpus/<name>/ (fuzz_config -> config), so the repository's
# corpus is never changed. The project's sources are compiled once into
# build-fuzz/libfuzzdeps.a (coverage-instrumented); each target links what it uses.
# Every target runs even when one fails; a crash, leak or broken check leaves its
# input in build-fuzz/artifacts/<name>/ and the log in build-fuzz/<name>.log, and
# make fails at the end. Turn a crash into a regression input under tests/ (see
# tests/fuzz/README).
FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
FUZZ_B       := build-fuzz
FUZZ_SRC     := $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS    := $(patsubst fuzz/%.c,$(FUZZ_B)/%,$(FUZZ_SRC))
FUZZ_DEP_SRC := $(COMMON_SRC) $(CONFIG_SRC) $(WORKER_SRC)
FUZZ_DEP_OBJ := $(patsubst %.c,$(FUZZ_B)/obj/%.o,$(FUZZ_DEP_SRC))
FUZZ_CFLAGS  := -std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Wall -Iinclude \
	-Icommon -Iconfig -Iworker -Idaemon $(PKG_CFLAGS)
FUZZ_SAN     := address,undefined

$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(E) "  FUZZCC  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c $< -o $@

$(FUZZ_B)/libfuzzdeps.a: $(FUZZ_DEP_OBJ)
	$(E) "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_B)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_B)/libfuzzdeps.a
	$(E) "  FUZZ    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $^ $(LDLIBS)

fuzz-check-cc:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { echo "make fuzz: $(FUZZ_CC) not found" \
		"(libFuzzer comes with clang: apt-get install clang)" >&2; exit 1; }

fuzz: fuzz-check-cc
	$(MAKE) $(FUZZ_BINS)
	@failed=""; for b in $(FUZZ_BINS); do \
		n=$${b#$(FUZZ_B)/fuzz_}; \
		rm -rf $(FUZZ_B)/corpus/$$n; mkdir -p $(FUZZ_B)/corpus/$$n $(FUZZ_B)/artifacts/$$n; \
		if [ -d fuzz/corpus/$$n ]; then cp -R fuzz/corpus/$$n/. $(FUZZ_B)/corpus/$$n/; fi; \
		echo "  RUN     $$b for $(FUZZ_SECONDS) s (corpus $(FUZZ_B)/corpus/$$n)"; \
		if $$b -max_total_time=$(FUZZ_SECONDS) -timeout=25 -rss_limit_mb=4096 \
			-artifact_prefix=$(FUZZ_B)/artifacts/$$n/ $(FUZZ_B)/corpus/$$n \
			>$(FUZZ_B)/$$n.log 2>&1; then \
			grep -h '^Done' $(FUZZ_B)/$$n.log | sed 's/^/          /'; \
		else \
			tail -n 30 $(FUZZ_B)/$$n.log; failed="$$failed $$n"; \
			echo "make fuzz: $$n failed: input in $(FUZZ_B)/artifacts/$$n/, log $(FUZZ_B)/$$n.log" >&2; \
		fi; \
	done; \
	[ -z "$$failed" ] || { echo "make fuzz: failing targets:$$failed" >&2; exit 1; }

.PHONY: fuzz-check-cc
# ---- end fuzz ----
