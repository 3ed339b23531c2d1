# bestbuddy: `make` builds both heaps side by side, `make check` tests everything,
# `make demo` runs python3 on each heap. tests/README.md lists every test target: its
# folder, what it runs, how long it takes and what it needs.
#
#   out/bestfit/libbestbuddy.so  .a   best fit  ($(BUILD_LIBS))
#   out/buddy/libbestbuddy.so    .a   buddy     ($(BUILD_LIBS) --no-default-features --features buddy)
#   out/bin/bestbuddy-trace           the trace reader (trace/; docs/TRACE.md)
#   out/bin/bestbuddy, bestbuddy-replayer   the command-line tool (tool/; tool/README.md)
#   out/report-sample/                the report crate's sample drawn (`make report-sample`)
#
# `make install PREFIX=/usr/local DESTDIR=` installs the libraries, header, pkg-config
# files, tools and man pages from out/ (see "install" below); `make uninstall` removes them.
#
# LD_PRELOAD is only ever set on the command under test, never around cargo or make.

CARGO ?= cargo
OUT := out
# The version is the package's (Cargo.toml); the SONAME carries its major number (build.rs).
# The buddy build has a SONAME of its own: installed beside best fit, a program linked
# against one must not load the other. out/<heap>/ has a link under its library's SONAME,
# so a program linked there with -L finds it at run time with LD_LIBRARY_PATH.
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
SONAME := libbestbuddy.so.$(MAJOR)
SONAME_BUDDY := libbestbuddy-buddy.so.$(MAJOR)

.PHONY: all install uninstall check-install bestfit buddy trace-tool tool insight check-trace check-tool check-report report-sample unhardened valgrind-libs check-valgrind check layers test-rust test-rust-alloc clippy header-drift c-tests real-tests check-real stress stress-quick demo bench bench-quick bench-callgrind bench-instructions bench-hardening fuzz fuzz-cmin clean

all: bestfit buddy trace-tool tool

# The libraries are built without the rlib that Cargo.toml lists (for Rust programs, the
# fuzz crate and the tool; `--crate-type` replaces it): a crate compiled as an rlib keeps its
# statics visible to other crates, so the cdylib reaches every static (the secrets, the
# region bitmap) through the GOT, one extra load each, on malloc's and free's fast paths;
# built alone, each is one RIP-relative load.
# Feature `c-exports` makes it the C library: malloc and the rest exported, the load-time
# constructor, the panic handler, include/bestbuddy.h written. `cargo build` alone builds the
# rlib for Rust programs (`bestbuddy::BestBuddy`), which exports nothing.
BUILD_LIBS = $(CARGO) rustc --release --lib --crate-type cdylib,staticlib --features c-exports

# Both builds share target/; each copies its products out before the other overwrites them.
bestfit:
	$(BUILD_LIBS)
	@$(MAKE) --no-print-directory install-out NAME=bestfit

buddy:
	$(BUILD_LIBS) --no-default-features --features buddy
	@$(MAKE) --no-print-directory install-out NAME=buddy

# The trace reader's binary (trace/, docs/TRACE.md). It shares target/release with the
# libraries, but the package is not the allocator and its product has a name of its own
# (bestbuddy-trace), so neither build overwrites what the other made.
trace-tool:
	$(CARGO) build --release -p bestbuddy-trace
	@mkdir -p $(OUT)/bin
	cp target/release/bestbuddy-trace $(OUT)/bin/.bestbuddy-trace.tmp && mv -f $(OUT)/bin/.bestbuddy-trace.tmp $(OUT)/bin/bestbuddy-trace

# The same heaps without sealed metadata (feature `unhardened`): for
# tests/c/without_hardening.sh and `make bench-hardening`. Same target dir as the others (the
# dependencies are shared); each build's products are copied out before the next one.
# The command-line tool (tool/), in a target directory of its own: it links the allocator's
# rlib with features of its own (no `c-exports`), so that the builds of the libraries and
# of the tool do not take turns recompiling and replacing each other's allocator files.
TOOL_CARGO = $(CARGO) --config 'build.target-dir="target/tool"'
TOOL_BINS := bestbuddy bestbuddy-replayer

tool:
	$(TOOL_CARGO) build --release -p bestbuddy-cli
	@mkdir -p $(OUT)/bin
	for b in $(TOOL_BINS); do \
	  cp target/tool/release/$$b $(OUT)/bin/.$$b.tmp && mv -f $(OUT)/bin/.$$b.tmp $(OUT)/bin/$$b || exit 1; \
	done

unhardened:
	$(BUILD_LIBS) --features unhardened
	@$(MAKE) --no-print-directory install-out NAME=unhardened-bestfit
	$(BUILD_LIBS) --no-default-features --features buddy,unhardened
	@$(MAKE) --no-print-directory install-out NAME=unhardened-buddy

# Both heaps telling valgrind's memcheck about every block (feature `valgrind`,
# src/valgrind.rs): for `make check-valgrind` and for running a program under memcheck
# (README, "Under valgrind"). Built as `unhardened` is, into folders of their own.
valgrind-libs:
	$(BUILD_LIBS) --features valgrind
	@$(MAKE) --no-print-directory install-out NAME=valgrind-bestfit
	$(BUILD_LIBS) --no-default-features --features buddy,valgrind
	@$(MAKE) --no-print-directory install-out NAME=valgrind-buddy

# Small C programs under memcheck, static and preloaded, on both heaps: a leak, a use after
# free, an overflow, an uninitialised read, a clean run, a double free (tests/valgrind/run.sh
# says what each must report). Installs valgrind with apt-get when missing (as root).
check-valgrind: valgrind-libs
	bash tests/valgrind/run.sh $(OUT)/valgrind-bestfit best-fit
	bash tests/valgrind/run.sh $(OUT)/valgrind-buddy buddy

# Each file is copied beside its destination and renamed over it: a program running with
# the old library preloaded keeps its mapping (cp over it in place killed such a program
# with SIGBUS).
install-out:
	@mkdir -p $(OUT)/$(NAME)
	for f in libbestbuddy.so libbestbuddy.a; do \
	  cp target/release/$$f $(OUT)/$(NAME)/.$$f.tmp && mv -f $(OUT)/$(NAME)/.$$f.tmp $(OUT)/$(NAME)/$$f || exit 1; \
	done
	ln -sf libbestbuddy.so $(OUT)/$(NAME)/$(if $(findstring buddy,$(NAME)),$(SONAME_BUDDY),$(SONAME))

# ------------------------------------------------------------------------------ install
# `make install PREFIX=/usr/local DESTDIR=`: both heaps' libraries, each under its own name
# (best fit: libbestbuddy, buddy: libbestbuddy-buddy) as LIBDIR/NAME.so.VERSION with its
# SONAME link NAME.so.MAJOR and the link NAME.so for -lNAME, NAME.a, and a pkg-config file
# NAME.pc (without the lib); the header, the tools, two man pages. `make uninstall` with the
# same variables removes the files of INSTALLED (the directories stay: they may have been
# there before). `bestbuddy run` finds the libraries as BINDIR/../lib/NAME.so.MAJOR, so
# BINDIR and LIBDIR keep their defaults when the tool is to work (tool/src/libs.rs).
#
# install does not build: run `make` first. It reads only what `make` left in out/, so a
# `sudo make install` works with cargo in the user's PATH alone.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL_BINS := bestbuddy bestbuddy-replayer bestbuddy-trace
# heap folder in out/ : the installed library's name
INSTALL_HEAPS := bestfit:libbestbuddy buddy:libbestbuddy-buddy
INSTALL_LIBS := $(foreach h,$(INSTALL_HEAPS),$(lastword $(subst :, ,$(h))))

# Every file install writes, links included; uninstall removes these and only these.
INSTALLED = $(addprefix $(BINDIR)/,$(INSTALL_BINS)) \
	$(foreach l,$(INSTALL_LIBS),$(LIBDIR)/$(l).so.$(VERSION) $(LIBDIR)/$(l).so.$(MAJOR) \
	  $(LIBDIR)/$(l).so $(LIBDIR)/$(l).a $(PKGCONFIGDIR)/$(patsubst lib%,%,$(l)).pc) \
	$(INCLUDEDIR)/bestbuddy.h $(MANDIR)/man1/bestbuddy.1 $(MANDIR)/man3/bestbuddy.3

# In the .pc file, directories under PREFIX are written as ${prefix}/...
pc_dir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

install:
	@for f in $(addprefix $(OUT)/bin/,$(INSTALL_BINS)) $(foreach h,$(INSTALL_HEAPS),$(OUT)/$(firstword $(subst :, ,$(h)))/libbestbuddy.so $(OUT)/$(firstword $(subst :, ,$(h)))/libbestbuddy.a); do \
	  [ -f $$f ] || { echo "make install: $$f is missing: run \`make\` first"; exit 1; }; \
	done
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	  $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 755 $(addprefix $(OUT)/bin/,$(INSTALL_BINS)) $(DESTDIR)$(BINDIR)/
	@set -e; for h in $(INSTALL_HEAPS); do \
	  heap=$${h%%:*}; lib=$${h#*:}; name=$${lib#lib}; \
	  case $$heap in bestfit) what="best fit";; *) what=$$heap;; esac; \
	  echo "install $(OUT)/$$heap -> $(DESTDIR)$(LIBDIR)/$$lib.{so.$(VERSION),so.$(MAJOR),so,a}, $(DESTDIR)$(PKGCONFIGDIR)/$$name.pc"; \
	  install -m 755 $(OUT)/$$heap/libbestbuddy.so $(DESTDIR)$(LIBDIR)/$$lib.so.$(VERSION); \
	  ln -sfn $$lib.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$$lib.so.$(MAJOR); \
	  ln -sfn $$lib.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/$$lib.so; \
	  install -m 644 $(OUT)/$$heap/libbestbuddy.a $(DESTDIR)$(LIBDIR)/$$lib.a; \
	  sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call pc_dir,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(call pc_dir,$(INCLUDEDIR))|' -e 's|@VERSION@|$(VERSION)|' \
	    -e "s|@NAME@|$$name|" -e "s|@HEAP@|$$what|" \
	    dist/bestbuddy.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/$$name.pc; \
	  chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/$$name.pc; \
	done
	install -m 644 include/bestbuddy.h $(DESTDIR)$(INCLUDEDIR)/bestbuddy.h
	@set -e; for m in 1 3; do \
	  echo "install dist/bestbuddy.$$m -> $(DESTDIR)$(MANDIR)/man$$m/bestbuddy.$$m"; \
	  sed 's|@VERSION@|$(VERSION)|' dist/bestbuddy.$$m >$(DESTDIR)$(MANDIR)/man$$m/bestbuddy.$$m; \
	  chmod 644 $(DESTDIR)$(MANDIR)/man$$m/bestbuddy.$$m; \
	done

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

# install and uninstall into a temporary DESTDIR, pkg-config, a C program built and run on
# each heap (shared and static), the installed tool, the man pages (tests/install/run.sh).
check-install: all
	bash tests/install/run.sh

check: all layers header-drift check-install clippy test-rust test-rust-alloc check-trace check-tool check-report c-tests check-valgrind real-tests stress-quick
	@echo "make check: all passed"

# Every import in src/ goes down the layers of docs/ARCHITECTURE.md (tools/check-layers.py).
layers:
	/usr/bin/python3 tools/check-layers.py

# include/bestbuddy.h is regenerated by build.rs; a committed header that differs is stale.
header-drift: all
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git diff --exit-code -- include/bestbuddy.h || \
	    { echo "include/bestbuddy.h drifted from src/exports.rs: commit the regenerated header"; exit 1; }; \
	fi

# The crate for Rust programs with its tests and example, then the C library's build
# (`c-exports`: exports.rs and the constructor; its library alone, as a Rust program
# cannot link it), each for both heaps; and the C library with `valgrind` (src/valgrind.rs).
clippy:
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --no-default-features --features buddy -- -D warnings
	$(CARGO) clippy --lib --features c-exports -- -D warnings
	$(CARGO) clippy --lib --no-default-features --features buddy,c-exports -- -D warnings
	$(CARGO) clippy --lib --features c-exports,valgrind -- -D warnings

# Unit tests cover both heaps in one build (both are always compiled). With `c-exports`, as
# the C library: the test harness itself then runs on the exported malloc. Then the doc
# examples (on the default heap; test-rust-alloc runs the Rust-program tests on both).
test-rust:
	$(CARGO) test --lib --features c-exports
	$(CARGO) test --doc

# bestbuddy as a Rust program's #[global_allocator] (src/rust_alloc.rs), on each heap:
# tests/global_alloc.rs, then examples/global_alloc.rs, which checks its own results, and
# examples/global_alloc_dylib.rs, a shared library that must link.
test-rust-alloc:
	$(CARGO) test --test global_alloc
	$(CARGO) run -q --example global_alloc
	$(CARGO) build -q --release --example global_alloc_dylib
	$(CARGO) test --test global_alloc --no-default-features --features buddy
	$(CARGO) run -q --example global_alloc --no-default-features --features buddy
	$(CARGO) build -q --release --example global_alloc_dylib --no-default-features --features buddy

# The trace reader: its tests (a million-record trace among them) and its lints.
check-trace:
	$(CARGO) test -p bestbuddy-trace
	$(CARGO) clippy -p bestbuddy-trace --all-targets -- -D warnings

# The tool: its tests (bad traces, determinism, `run` finding the libraries) and its lints,
# in the profile tool-test (Cargo.toml says why).
check-tool: all
	$(TOOL_CARGO) test --profile tool-test -p bestbuddy-cli
	$(TOOL_CARGO) clippy --profile tool-test -p bestbuddy-cli --all-targets -- -D warnings

# The report's crate (report/): charts and report.html from a replay's JSON. Its tests, the
# browser test among them (report.html in headless chromium, a screenshot checked; chromium
# is installed from Debian by report/tests/chromium.sh when missing and this runs as root,
# else that test says SKIPPED), then its lints.
check-report:
	@browser="$$(bash report/tests/chromium.sh)"; \
	if [ -z "$$browser" ]; then echo "!!! check-report: no chromium: the browser test is SKIPPED !!!"; fi; \
	BESTBUDDY_CHROMIUM="$$browser" $(CARGO) test -p bestbuddy-report -- --nocapture
	$(CARGO) clippy -p bestbuddy-report --all-targets -- -D warnings

# The picture of a real program: python3 running tests/real/workload.py on best fit, every
# object through malloc (PYTHONMALLOC=malloc: python's own small-object allocator would hide
# most of them), traced (`bestbuddy run --trace`), replayed through both heaps and beside
# glibc, jemalloc and mimalloc (`bestbuddy replay`), drawn into out/insight/report.html.
insight: all
	@mkdir -p $(OUT)/insight
	rm -f $(OUT)/insight/workload.trace
	PYTHONMALLOC=malloc $(OUT)/bin/bestbuddy run --trace $(OUT)/insight/workload.trace -- /usr/bin/python3 tests/real/workload.py >/dev/null
	$(OUT)/bin/bestbuddy replay $(OUT)/insight/workload.trace --out $(OUT)/insight
	@echo "open $(OUT)/insight/report.html"

# The committed sample (report/tests/sample-replay.json) drawn into out/report-sample/, to
# look at: open out/report-sample/report.html.
report-sample:
	$(CARGO) run -q -p bestbuddy-report -- report/tests/sample-replay.json $(OUT)/report-sample

c-tests: all unhardened
	bash tests/c/run.sh $(OUT)/bestfit best-fit
	bash tests/c/run.sh $(OUT)/buddy buddy
	bash tests/c/without_hardening.sh $(OUT)/unhardened-bestfit best-fit
	bash tests/c/without_hardening.sh $(OUT)/unhardened-buddy buddy

real-tests: all
	bash tests/real/run.sh $(OUT)/bestfit/libbestbuddy.so
	bash tests/real/run.sh $(OUT)/buddy/libbestbuddy.so

# More real programs (python's test suite, sqlite3, redis-server, git, g++, xz), installing
# what is missing from Debian: tests/real/check-real.sh. Not part of check; CI runs it after.
check-real: all
	bash tests/real/check-real.sh $(OUT)/bestfit/libbestbuddy.so
	bash tests/real/check-real.sh $(OUT)/buddy/libbestbuddy.so

# Multi-threaded stress under LD_PRELOAD (tests/stress/stress.c): threads, ops per thread,
# seeds. stress-quick (a few seconds per heap) is part of check; stress takes about a
# minute per heap, then runs python3 with threads that print, fork and run subprocesses for
# a minute per heap (tests/stress/fork-python.sh: a stalled loop is a hang, and fails).
stress-quick: all
	BESTBUDDY_EXPECT=best-fit bash tests/stress/run.sh $(OUT)/bestfit/libbestbuddy.so 4 50000 1 2
	BESTBUDDY_EXPECT=buddy bash tests/stress/run.sh $(OUT)/buddy/libbestbuddy.so 4 50000 1 2

stress: all
	BESTBUDDY_EXPECT=best-fit bash tests/stress/run.sh $(OUT)/bestfit/libbestbuddy.so 4 1500000 1 2 3
	BESTBUDDY_EXPECT=buddy bash tests/stress/run.sh $(OUT)/buddy/libbestbuddy.so 4 1500000 1 2 3
	BESTBUDDY_EXPECT=best-fit bash tests/stress/fork-python.sh $(OUT)/bestfit/libbestbuddy.so 60
	BESTBUDDY_EXPECT=buddy bash tests/stress/fork-python.sh $(OUT)/buddy/libbestbuddy.so 60

demo: all
	bash tests/real/demo.sh $(OUT)/bestfit/libbestbuddy.so
	bash tests/real/demo.sh $(OUT)/buddy/libbestbuddy.so

# Benchmarks against glibc, jemalloc, mimalloc and tcmalloc (installed from Debian if missing):
# a table of median time and peak RSS ratios, out/bench/results.csv and out/bench/ratios.png.
bench: all
	/usr/bin/python3 bench/run.py

bench-quick: all
	/usr/bin/python3 bench/run.py --quick

# What the hardening (sealed headers and links, src/seal.rs) costs: both heaps with and
# without it, side by side with glibc, then the pair's instruction counts.
bench-hardening: all unhardened
	/usr/bin/python3 bench/run.py --alloc glibc,bb-bestfit,bb-bestfit-unh,bb-buddy,bb-buddy-unh
	/usr/bin/python3 bench/run.py --callgrind --alloc glibc,bb-bestfit,bb-bestfit-unh,bb-buddy,bb-buddy-unh

# Instructions per malloc(32)+free pair, from callgrind (repeatable on a noisy machine).
bench-callgrind: all
	/usr/bin/python3 bench/run.py --callgrind

# Instructions of every C benchmark under every allocator (callgrind): the figures that
# repeat from run to run where wall times do not.
bench-instructions: all
	/usr/bin/python3 bench/run.py --instructions

# cargo-fuzz targets, one per heap, against the shadow model (src/shadow/; fuzz/src/lib.rs
# decodes the inputs into its operations), and `trace`, the trace reader on arbitrary bytes
# (fuzz/fuzz_targets/trace.rs), on stable Rust (-s none: no sanitizer, so no -Z
# flag). Installs cargo-fuzz if missing; each target runs FUZZ_SECONDS from the committed
# corpus fuzz/corpus/<target>. New inputs go to fuzz/target/corpus/<target> (`make fuzz-cmin`
# folds them into the committed corpus and minimises it: the fewest inputs with the same
# coverage); a crash stops it, its input saved in fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := bestfit buddy trace
FUZZ_FLAGS := -s none --no-trace-compares

fuzz:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	cd fuzz && $(CARGO) fuzz build $(FUZZ_FLAGS)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/target/corpus/$$t; log=fuzz/target/fuzz-$$t.log; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s (log: $$log)"; \
	  if (cd fuzz && $(CARGO) fuzz run $(FUZZ_FLAGS) $$t target/corpus/$$t corpus/$$t -- \
	      -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1) >$$log 2>&1; then \
	    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE) |^stat::(number|average)' $$log; \
	  else \
	    grep -A2 'panicked at' $$log; tail -n 25 $$log; echo "fuzz: $$t failed"; exit 1; \
	  fi; \
	done

fuzz-cmin:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t; \
	  if [ -d fuzz/target/corpus/$$t ]; then find fuzz/target/corpus/$$t -type f -exec cp -f {} fuzz/corpus/$$t/ \; ; fi; \
	  (cd fuzz && $(CARGO) fuzz cmin $(FUZZ_FLAGS) $$t corpus/$$t -- -set_cover_merge=1); \
	  rm -rf fuzz/target/corpus/$$t; \
	done

clean:
	$(CARGO) clean
	rm -rf $(OUT)
