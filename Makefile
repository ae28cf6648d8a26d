# oys: build, dependencies, tests, install.
#
#   make            build every tool into bin/
#   make deps       install what is missing (Debian packages, pinned workerd/anvil from npm)
#   make check      deps, build, run every test; ends with "N passed, N failed"
#   make asan       the same suite against an ASan+UBSan build (build/asan/bin)
#   make fuzz       libFuzzer targets, a bounded run each
#   make bench      benchmarks, with ratios against bare workerd measured in the same run
#   make soak       load held and what is left after it (SOAK_MODE=cold|warm, SOAK_N, SOAK_C)
#   make up/down    start/stop a local platform on 127.0.0.1 with an example function
#   make install    PREFIX=/usr/local DESTDIR=

VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=

CC         ?= cc
OPTFLAGS   ?= -O2 -g
WARNFLAGS  := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
CFLAGS     += -std=c17 $(OPTFLAGS) $(WARNFLAGS) -D_GNU_SOURCE -DOYS_VERSION='"$(VERSION)"' \
              -fstack-protector-strong -D_FORTIFY_SOURCE=2 -MMD -MP
LDFLAGS    += -Wl,-z,relro,-z,now

# B: build directory of this variant; BIN: where its tools go.
B          ?= build
BIN        ?= bin
ifeq ($(SANITIZE),1)
  B        := build/asan
  BIN      := build/asan/bin
  OPTFLAGS := -O1 -g
  CFLAGS   += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  CFLAGS   := $(filter-out -D_FORTIFY_SOURCE=2,$(CFLAGS))
  LDFLAGS  += -fsanitize=address,undefined
endif

# Modules every tool links; the others are listed per tool in deps-exe/<tool> (lib modules by
# name, external libraries as -l...), so each binary links only what it uses.
CORE       := err buf log opt file paths conf
TOOLS      := $(patsubst cmd/%.c,%,$(wildcard cmd/oys-*.c))
LIBSRC     := $(wildcard lib/*.c)

deps_of     = $(shell cat deps-exe/$(1) 2>/dev/null)
mods_of     = $(CORE) $(filter-out -%,$(call deps_of,$(1)))
libs_of     = $(filter -%,$(call deps_of,$(1)))

.PHONY: all deps check test unit asan fuzz bench soak install uninstall up down clean distclean
all: $(addprefix $(BIN)/,$(TOOLS)) $(B)/share

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

define tool_rule
$(BIN)/$(1): $(B)/obj/cmd/$(1).o $(patsubst %,$(B)/obj/lib/%.o,$(call mods_of,$(1))) deps-exe/$(1)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(call libs_of,$(1))
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

# Variants outside bin/ find share/ and deps/ through these links, as bin/ finds ../share.
$(B)/share:
	@mkdir -p $(B)
	@if [ "$(BIN)" != bin ]; then ln -sfn $(CURDIR)/share $(B)/share; ln -sfn $(CURDIR)/deps $(B)/deps; \
	 else touch $@; fi

# The seccomp filter around workerd, compiled once at build time from lib/seccomp.c's table
# with libseccomp (a program per start cost 0.1-2.5 ms to build): lib/sandbox.c includes it.
$(B)/gen/seccomp-bpf: gen/seccomp-bpf.c lib/seccomp.c lib/err.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c,$^) -lseccomp
$(B)/gen/seccomp-bpf.h: $(B)/gen/seccomp-bpf
	$< >$@.tmp && mv $@.tmp $@
$(B)/obj/lib/sandbox.o: $(B)/gen/seccomp-bpf.h
$(B)/obj/lib/sandbox.o: CFLAGS += -I$(B)/gen

# C unit tests of lib/: tests/unit/test_<module>.c links the core and <module>'s deps.
# Helpers for the bats suites are built beside them (tests/run runs only test_*).
UNITS      := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c)) sign-answer
$(B)/unit/%: tests/unit/%.c $(patsubst %,$(B)/obj/lib/%.o,$(patsubst lib/%.c,%,$(LIBSRC)))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -Ilib -o $@ $(filter %.c %.o,$^) -ljq -lcbor -lssl -lcrypto -lcgroup -lsecp256k1 -lseccomp -lm
unit: $(addprefix $(B)/unit/,$(UNITS))
# Objects only the unit tests link (lib/seccomp.o) are not intermediate files to delete.
.SECONDARY: $(patsubst lib/%.c,$(B)/obj/lib/%.o,$(LIBSRC))

deps:
	@deps/install

# The README's test command: installs what is missing, builds, runs everything.
check: deps
	@$(MAKE) --no-print-directory all unit
	@tests/run --bin $(CURDIR)/$(BIN) --unit $(CURDIR)/$(B)/unit

test: all unit
	@tests/run --bin $(CURDIR)/$(BIN) --unit $(CURDIR)/$(B)/unit $(TESTS)

asan: deps
	@$(MAKE) --no-print-directory SANITIZE=1 all unit
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  tests/run --sanitize --bin $(CURDIR)/build/asan/bin --unit $(CURDIR)/build/asan/unit $(TESTS)

fuzz: deps
	@tests/fuzz/run

bench: deps all
	@bench/run

# SOAK_N requests (2000) at SOAK_C at a time (16) on a pool of SOAK_POOL (4); the last line sums
# it up for comparing runs. SOAK_MODE: cold (a workerd per request) or warm (oys-warm).
SOAK_MODE  ?= cold
soak: deps all
	@bench/soak $(SOAK_MODE)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/oys $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man7 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/libexec/oys
	install -m 755 $(addprefix $(BIN)/,$(TOOLS)) $(DESTDIR)$(PREFIX)/bin/
	cp -R share/templates share/examples $(DESTDIR)$(PREFIX)/share/oys/
	-cp -R share/certs $(DESTDIR)$(PREFIX)/share/oys/ 2>/dev/null
	install -m 644 $(wildcard man/*.1) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(wildcard man/*.7) $(DESTDIR)$(PREFIX)/share/man/man7/
	for t in $(TOOLS); do install -m 644 completions/oys.bash \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$t; done
	install -m 644 completions/_oys $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_oys
	if [ -x deps/node_modules/@cloudflare/workerd-linux-64/bin/workerd ]; then \
	  install -m 755 deps/node_modules/@cloudflare/workerd-linux-64/bin/workerd $(DESTDIR)$(PREFIX)/libexec/oys/; fi

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(TOOLS)) $(DESTDIR)$(PREFIX)/libexec/oys/workerd
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/bash-completion/completions/,$(TOOLS))
	rm -f $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_oys
	rm -f $(patsubst man/%,$(DESTDIR)$(PREFIX)/share/man/man1/%,$(wildcard man/*.1))
	rm -f $(patsubst man/%,$(DESTDIR)$(PREFIX)/share/man/man7/%,$(wildcard man/*.7))
	rm -rf $(DESTDIR)$(PREFIX)/share/oys

up: deps all
	@share/local/up

down:
	@share/local/down

clean:
	rm -rf build bin

distclean: clean
	rm -rf deps/node_modules

-include $(shell find build -name '*.d' 2>/dev/null)

build/bench/%: bench/%.c $(patsubst %,build/obj/lib/%.o,$(CORE) port)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^


# The cost of signing one answer (lib/sign); a row of make bench once oys-serve signs.
build/bench/sign: bench/sign.c $(patsubst %,build/obj/lib/%.o,$(CORE) keccak sign codec sha256)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) -lsecp256k1 -lcrypto

# What each layer of the sandbox costs per start, through the functions oys-run calls.
build/bench/sandbox: bench/sandbox.c $(patsubst %,build/obj/lib/%.o,$(CORE) workerd sandbox netns console cgroup cgrouplock)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^)

# The least an inetd-style handler can do (socat's own cost), and a bare C program's start.
build/bench/respond: bench/respond.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<
