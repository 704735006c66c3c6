# helpline: helplined (the daemon), helpline (the client), their tests and benchmarks.
#
#   make                 build build/helplined and build/helpline
#   make test            install missing packages, unit, integration then browser tests
#   make browser         the web application in headless Chromium (tests/browser/)
#   make check           unit tests only          make integration   integration tests only
#   make run             local PostgreSQL + demo helpline in ./var, daemon on 127.0.0.1:8080
#   make bench           every benchmark          make bench-NAME    one (tests/bench/bench_NAME.c)
#   make fuzz-NAME       libFuzzer target tests/fuzz/fuzz_NAME.c for FUZZ_SECONDS
#   make fuzz-smoke      every fuzz target for FUZZ_SMOKE_SECONDS (30) each
#   make format | format-check | lint | install PREFIX=/usr/local DESTDIR=
#   make SANITIZE=address,undefined test   everything built and run with sanitizers
#   make valgrind        the key, token and sealing unit suites under valgrind memcheck

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
SANITIZE ?=
FUZZ_SECONDS ?= 60

ifeq ($(SANITIZE),)
BUILD ?= build
else
BUILD ?= build/san-$(subst $(comma),-,$(SANITIZE))
endif
comma := ,

PKGS := libpq libsodium jansson libmicrohttpd libcurl zlib

WARN := -Wall -Wextra -Wpedantic -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla -Wcast-qual -Wnull-dereference
# -Werror in CI (and on request), as design.md asks; plain builds only warn.
ifneq ($(CI)$(WERROR),)
WARN += -Werror
endif

HARDEN    := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
HARDEN_LD := -pie -Wl,-z,relro,-z,now,-z,noexecstack

OPT := -O2 -g
ifneq ($(SANITIZE),)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
SAN_LD := -fsanitize=$(SANITIZE)
endif

CPPFLAGS += -D_GNU_SOURCE -Ilib -Itaxonomy -Iserver -Iclient \
	-DHL_DATADIR='"$(PREFIX)/share/helpline"' \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS   += -std=c11 $(OPT) $(WARN) $(HARDEN) -MMD -MP
LDFLAGS  += $(HARDEN_LD) $(SAN_LD)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
TEST_LDLIBS := $(shell pkg-config --libs criterion 2>/dev/null)

# Every module in lib/ and taxonomy/ is shared; server/ and client/ modules are
# everything but their main.c, so each one links into the tests.
LIB_SRCS    := $(wildcard lib/*.c taxonomy/*.c)
SERVER_SRCS := $(filter-out server/main.c,$(wildcard server/*.c server/*/*.c))
CLIENT_SRCS := $(filter-out client/main.c client/cdr_main.c,$(wildcard client/*.c))
SUPPORT_SRCS:= $(wildcard tests/support/*.c)
UNIT_SRCS   := $(wildcard tests/unit/*.c)
INTEG_SRCS  := $(wildcard tests/integration/*.c)
BENCH_SRCS  := $(wildcard tests/bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_A    := $(BUILD)/libhelpline.a
SERVER_A := $(BUILD)/libhelplined.a
CLIENT_A := $(BUILD)/libhelplineclient.a
SUPPORT_A:= $(BUILD)/libhltest.a

HELPLINED := $(BUILD)/helplined
HELPLINE  := $(BUILD)/helpline
HELPLINE_CDR := $(BUILD)/helpline-cdr
UNIT      := $(BUILD)/tests/unit
INTEG     := $(BUILD)/tests/integration
BENCHES   := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

ALL_SRCS := $(LIB_SRCS) $(SERVER_SRCS) $(CLIENT_SRCS) $(SUPPORT_SRCS) $(UNIT_SRCS) \
	$(INTEG_SRCS) $(BENCH_SRCS) server/main.c $(wildcard client/main.c client/cdr_main.c)

.PHONY: all deps test check integration browser run valgrind bench format format-check lint install clean fuzz-smoke
.DEFAULT_GOAL := all

all: $(HELPLINED) $(HELPLINE) $(HELPLINE_CDR)

# Rebuild everything when the flags change (Redis' .make-settings idea).
FLAGS_FILE := $(BUILD)/flags
FLAGS_NOW  := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
$(shell mkdir -p $(BUILD) && (test -f $(FLAGS_FILE) && test "$$(cat $(FLAGS_FILE))" = '$(FLAGS_NOW)') || printf '%s' '$(FLAGS_NOW)' > $(FLAGS_FILE))

$(BUILD)/obj/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB_A): $(call obj,$(LIB_SRCS))
$(SERVER_A): $(call obj,$(SERVER_SRCS))
$(CLIENT_A): $(call obj,$(CLIENT_SRCS))
$(SUPPORT_A): $(call obj,$(SUPPORT_SRCS))
$(LIB_A) $(SERVER_A) $(CLIENT_A) $(SUPPORT_A):
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(HELPLINED): $(call obj,server/main.c) $(SERVER_A) $(LIB_A)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(HELPLINE): $(call obj,client/main.c) $(CLIENT_A) $(LIB_A)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The Asterisk CDR adapter (docs/front-ends.md).
$(HELPLINE_CDR): $(call obj,client/cdr_main.c) $(CLIENT_A) $(LIB_A)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

TEST_DEFS := -DHL_TEST_SRCDIR='"$(CURDIR)"' -DHL_TEST_BUILDDIR='"$(CURDIR)/$(BUILD)"'
$(BUILD)/obj/tests/%.o: CPPFLAGS += -Itests/support $(TEST_DEFS)

$(UNIT): $(call obj,$(UNIT_SRCS)) $(SUPPORT_A) $(SERVER_A) $(CLIENT_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(TEST_LDLIBS) $(LDLIBS) -o $@

$(INTEG): $(call obj,$(INTEG_SRCS)) $(SUPPORT_A) $(SERVER_A) $(CLIENT_A) $(LIB_A) | $(HELPLINED) $(HELPLINE) $(HELPLINE_CDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $(filter %.o %.a,$^) $(TEST_LDLIBS) $(LDLIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(SUPPORT_A) $(SERVER_A) $(CLIENT_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

deps:
	@scripts/install-deps

# Unit tests need a real PostgreSQL too (the migration runner): scripts/with-pg
# starts a throw-away cluster and stops it whatever happens.
# Criterion's runner leaks its timeout watchdog's records under LeakSanitizer (tests/lsan.supp).
SAN_ENV = $(if $(SANITIZE),LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp)
check: deps
	@$(MAKE) --no-print-directory $(UNIT)
	$(SAN_ENV) scripts/with-pg $(UNIT) $(CRITERION_ARGS)

# Each integration test starts its own daemon (and the durability suite its own PostgreSQL):
# two at a time suit a 2-core machine. CRITERION_ARGS adds to it (a later --jobs wins).
INTEG_ARGS ?= --jobs 2
INTEG_ENV = HL_BUILD=$(BUILD) $(SAN_ENV)
integration: deps
	@$(MAKE) --no-print-directory $(INTEG) $(HELPLINED) $(HELPLINE) $(HELPLINE_CDR)
	$(if $(INTEG_SRCS),$(INTEG_ENV) scripts/with-pg $(INTEG) $(INTEG_ARGS) $(CRITERION_ARGS),@echo "no integration tests yet")

# The web application in a real headless Chromium driven by Selenium (Debian's chromium,
# chromium-driver and python3-selenium): tests/browser/harness.py starts its own PostgreSQL,
# helplined and browser and stops them. Debian's python3, where python3-selenium is installed.
BROWSER_PYTHON ?= /usr/bin/python3
browser: deps
	@$(MAKE) --no-print-directory $(HELPLINED) $(HELPLINE)
	HL_BUILD=$(BUILD) $(BROWSER_PYTHON) -m unittest discover -s tests/browser -p 'test_*.py' $(BROWSER_ARGS)

test: deps
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory browser

run: deps
	@$(MAKE) --no-print-directory all
	HL_BUILD=$(BUILD) scripts/run-local

# Memcheck over the unit suites that handle keys and tokens (issue: crypto): every test process
# runs under valgrind; any error or definite/indirect leak it logs fails the target.
VALGRIND_FILTER ?= @(crypto*|keys|users)/*
valgrind: deps
	@$(MAKE) --no-print-directory $(UNIT)
	@rm -rf $(BUILD)/valgrind && mkdir -p $(BUILD)/valgrind
	scripts/with-pg valgrind -q --trace-children=yes --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --log-file=$(CURDIR)/$(BUILD)/valgrind/%p.log \
		$(UNIT) --filter '$(VALGRIND_FILTER)' --jobs 1
	@if grep -q . $(BUILD)/valgrind/*.log 2>/dev/null; then cat $(BUILD)/valgrind/*.log; \
		echo "valgrind: errors or leaks above" >&2; exit 1; fi
	@echo "valgrind: no error and no leak in $$(ls $(BUILD)/valgrind | wc -l) test processes"

bench: $(patsubst tests/bench/bench_%.c,bench-%,$(BENCH_SRCS))
# Two daemons on one database (docs/scale-out.md): a script around bench_ingest, no program of its own.
bench-scaleout: deps
	@$(MAKE) --no-print-directory $(BUILD)/bench/bench_ingest $(HELPLINED)
	HL_BUILD=$(BUILD) tests/bench/bench_scaleout.sh
bench-%: deps
	@$(MAKE) --no-print-directory $(BUILD)/bench/bench_$* $(HELPLINED)
	HL_BUILD=$(BUILD) $(if $(wildcard tests/bench/bench_$*.sh),tests/bench/bench_$*.sh,$(BUILD)/bench/bench_$*)

# libFuzzer targets need clang. Every module is compiled once more, with coverage and the
# sanitizers, into one archive in $(BUILD)/fuzz; a target links it and so takes only the modules
# it calls (fuzz_http.c brings its own writer, so writer.c stays out). UBSan findings abort: a
# run fails on any crash, leak, hang or sanitizer report, and leaves the input in $(BUILD)/fuzz.
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := -std=c11 -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -MMD -MP
FUZZ_SRCS    := $(LIB_SRCS) $(SERVER_SRCS) $(CLIENT_SRCS)
FUZZ_A       := $(BUILD)/fuzz/libhelpline-fuzz.a
fuzzobj = $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(1))
# -max_len per target: past every size limit the target can reach (1 MiB fields in a body of
# up to 1.5 MiB, 4 MiB spool records, 16 KiB CDR lines); the targets' @@rep:N:UNIT@@ expansion
# (tests/fuzz/fuzz_util.h) lets small seeds reach them too.
FUZZ_MAX_LEN_http       := 2097152
FUZZ_MAX_LEN_contact    := 2097152
FUZZ_MAX_LEN_record     := 2097152
FUZZ_MAX_LEN_taxonomy   := 2097152
FUZZ_MAX_LEN_rocketchat := 3145728
FUZZ_MAX_LEN_spool      := 5242880
FUZZ_MAX_LEN_cdr        := 65536
FUZZ_MAX_LEN_report     := 1048576
FUZZ_SMOKE_SECONDS ?= 30
# $(1) target, $(2) seconds: new inputs go to $(BUILD)/fuzz/corpus-NAME, the committed seeds are read.
fuzz_run = $(BUILD)/fuzz/fuzz_$(1) -max_total_time=$(2) -max_len=$(or $(FUZZ_MAX_LEN_$(1)),4096) \
	-timeout=25 -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$(1)- \
	$(BUILD)/fuzz/corpus-$(1) $(wildcard tests/fuzz/corpus-$(1))

.PRECIOUS: $(BUILD)/fuzz/obj/%.o $(BUILD)/fuzz/fuzz_%
$(BUILD)/fuzz/obj/tests/fuzz/%.o: FUZZ_CFLAGS += $(WARN)
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_A): $(call fuzzobj,$(FUZZ_SRCS))
	rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_A)
	clang $(FUZZ_SAN) -fsanitize=fuzzer $^ $(shell pkg-config --libs $(PKGS)) -lpthread -lm -o $@

# Every target for FUZZ_SMOKE_SECONDS each (CI); stops at the first failure.
fuzz-smoke:
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do mkdir -p $(BUILD)/fuzz/corpus-$$t; done
	@$(foreach t,$(FUZZ_TARGETS),echo "fuzz-smoke: $(t), $(FUZZ_SMOKE_SECONDS) s"; \
		$(call fuzz_run,$(t),$(FUZZ_SMOKE_SECONDS)) >$(BUILD)/fuzz/$(t).log 2>&1 \
		|| { tail -n 80 $(BUILD)/fuzz/$(t).log; echo "fuzz-smoke: $(t) failed" >&2; exit 1; }; \
		grep -h -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
		$(BUILD)/fuzz/$(t).log | sed 's/^/    /';)

fuzz-%: $(BUILD)/fuzz/fuzz_%
	@mkdir -p $(BUILD)/fuzz/corpus-$*
	$(call fuzz_run,$*,$(FUZZ_SECONDS))

FORMAT_SRCS = $(wildcard lib/*.[ch] taxonomy/*.[ch] server/*.[ch] server/*/*.[ch] client/*.[ch] \
	tests/*/*.[ch] tests/bench/shim/*.c)

format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRCS)

lint:
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem -D__GNUC__ -D_GNU_SOURCE \
		-Ilib -Itaxonomy -Iserver -Iclient lib taxonomy server client

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin \
		$(DESTDIR)$(PREFIX)/share/helpline/migrations $(DESTDIR)$(PREFIX)/share/helpline/taxonomy/mappings
	install -m 0755 $(HELPLINED) $(DESTDIR)$(PREFIX)/sbin/helplined
	install -m 0755 $(HELPLINE) $(DESTDIR)$(PREFIX)/bin/helpline
	install -m 0755 $(HELPLINE_CDR) $(DESTDIR)$(PREFIX)/bin/helpline-cdr
	install -m 0644 migrations/*.sql $(DESTDIR)$(PREFIX)/share/helpline/migrations/
	$(if $(wildcard taxonomy/*.json),install -m 0644 taxonomy/*.json $(DESTDIR)$(PREFIX)/share/helpline/taxonomy/)
	$(if $(wildcard taxonomy/mappings/*.json),install -m 0644 taxonomy/mappings/*.json $(DESTDIR)$(PREFIX)/share/helpline/taxonomy/mappings/)
	$(if $(wildcard client/helpline.1),install -d $(DESTDIR)$(PREFIX)/share/man/man1 && install -m 0644 client/helpline.1 $(DESTDIR)$(PREFIX)/share/man/man1/)
# The web application (web_dir's default, HL_DATADIR/web): its folders and files, modes 0755 and 0644.
	cd client/web && find . -type d -exec install -d -m 0755 '$(abspath $(DESTDIR)$(PREFIX))/share/helpline/web/{}' ';' && \
		find . -type f ! -name '.*' -exec install -m 0644 '{}' '$(abspath $(DESTDIR)$(PREFIX))/share/helpline/web/{}' ';'

clean:
	rm -rf build

-include $(patsubst %.c,$(BUILD)/obj/%.d,$(ALL_SRCS))
-include $(patsubst %.c,$(BUILD)/fuzz/obj/%.d,$(FUZZ_SRCS) $(wildcard tests/fuzz/*.c))
