# p2psip — plain Makefile (GNU make).
#
#   make            build libcore/libp2psip.a and the tools in bin/
#   make check      install missing packages, build with ASan+UBSan, run
#                   every test suite, print "N passed, N failed, N skipped"
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (default 60)
#   make bench      run the benchmarks in bench/
#   make demo       install missing packages, build, run a local overlay
#   make install    PREFIX=/usr/local: tools, man pages, completion
#   make deps       apt-get install the Debian packages that are missing

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
BUILD    ?= build/rel
BIN      ?= bin
LIBA     ?= libcore/libp2psip.a
OPT      ?= -O2
SAN      ?=
FUZZ_SECONDS ?= 60
FUZZ_MAX_LEN ?= 65536

PKGS     := libuv openssl jansson libxml-2.0 libcurl nice
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   ?=
CFLAGS   += -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Wall -Wextra -Werror \
            -Wshadow -Wno-unused-parameter -g $(OPT) $(SAN) -Ilibcore $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -losipparser2 -lhttp_parser -ledit -lm
LDFLAGS  += $(SAN) -Wl,--as-needed

LIB_SRC  := $(wildcard libcore/*.c)
LIB_OBJ  := $(patsubst libcore/%.c,$(BUILD)/libcore/%.o,$(LIB_SRC))
CMD_SRC  := $(wildcard cmd/p2p-*.c)
TOOLS    := $(patsubst cmd/%.c,$(BIN)/%,$(CMD_SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNITS    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS  := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
HDRS     := $(wildcard libcore/*.h)

.PHONY: all check unit fuzz fuzz-build bench install deps clean demo san

all: $(LIBA) $(TOOLS)

$(BUILD)/libcore/%.o: libcore/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN)/%: cmd/%.c $(LIBA) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(LIBA) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS) -lcmocka

KIT_SRC  := $(wildcard tests/kit/*.c)
KITS     := $(patsubst tests/kit/%.c,$(BUILD)/kit/%,$(KIT_SRC))

unit: $(UNITS) $(KITS)

# Fixtures for the end-to-end tests (not installed).
$(BUILD)/kit/%: tests/kit/%.c $(LIBA) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

# libFuzzer targets: always clang, with ASan and UBSan. The library is
# instrumented once (build/fuzz/libp2psip.a) and linked into each target.
FUZZ_COMMON := -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -g -O1 \
    -fno-sanitize-recover=undefined -Ilibcore $(PKG_CFLAGS)
FUZZ_OBJ := $(patsubst libcore/%.c,build/fuzz/obj/%.o,$(LIB_SRC))
build/fuzz/obj/%.o: libcore/%.c $(HDRS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_COMMON) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
build/fuzz/libp2psip.a: $(FUZZ_OBJ)
	rm -f $@
	ar rcs $@ $^
build/fuzz/%: tests/fuzz/%.c build/fuzz/libp2psip.a $(HDRS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_COMMON) -fsanitize=fuzzer,address,undefined -o $@ $< \
	    build/fuzz/libp2psip.a $(PKG_LIBS) -losipparser2 -lhttp_parser -ledit -lm

fuzz-build: $(FUZZERS)

fuzz: fuzz-build
	@for f in $(FUZZERS); do \
	  n=$$(basename $$f); mkdir -p tests/fuzz/corpus/$$n build/fuzz/new/$$n; \
	  echo "fuzzing $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) \
	    -print_final_stats=1 \
	    build/fuzz/new/$$n tests/fuzz/corpus/$$n || exit 1; \
	done

# The sanitizer build lives apart from the release build.
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
            -fno-omit-frame-pointer
san:
	$(MAKE) BUILD=build/san BIN=build/san/bin LIBA=build/san/libp2psip.a \
	    OPT=-O1 SAN="$(SANFLAGS)" all unit

check: deps
	$(MAKE) san fuzz-build all
	tests/run-all

bench: all
	bench/run

# The main job: a local demonstration overlay (see demo/run).
demo: deps
	$(MAKE) all
	demo/run

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man7 $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	for t in $(TOOLS); do install -m 0755 $$t $(DESTDIR)$(PREFIX)/bin/; done
	for m in $(wildcard man/*.1); do install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man1/; done
	for m in $(wildcard man/*.7); do install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man7/; done
	for m in $(wildcard man/*.8); do install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man8/; done
	for c in $(wildcard completion/bash/*); do install -m 0644 $$c $(DESTDIR)$(PREFIX)/share/bash-completion/completions/; done
	for c in $(wildcard completion/zsh/_*); do install -m 0644 $$c $(DESTDIR)$(PREFIX)/share/zsh/site-functions/; done

deps:
	@./.ci/deps

clean:
	rm -rf build bin $(LIBA)
