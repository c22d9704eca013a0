# SPDX-License-Identifier: MIT
# The two commands a new user needs: `make demo` and `make test`. Both install
# missing Debian packages first (apt-get; needs root or sudo) and build.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?= --output-on-failure

PREFIX     ?= /usr/local
DESTDIR    ?=

.PHONY: all deps build demo test unit asan bench clean format format-check install uninstall deb

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/dtr demo

test: build
	cd $(BUILD) && ctest -j $(JOBS) $(CTEST_ARGS)

unit: build
	cd $(BUILD) && ctest -L unit $(CTEST_ARGS)

$(ASAN_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDTR_SANITIZE=address,undefined

asan: deps $(ASAN_BUILD)/Makefile
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -j $(JOBS) $(CTEST_ARGS)

bench: deps
	sh bench/run.sh $(BENCH)

# CMake's install() rules (CMakeLists.txt) under PREFIX, staged under DESTDIR
# when given; $(BUILD)/install_manifest.txt lists what went where.
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# Removes exactly the files the last install listed in install_manifest.txt
# (give the same DESTDIR).
uninstall:
	DESTDIR="$(DESTDIR)" sh scripts/uninstall.sh $(BUILD)/install_manifest.txt

# A Debian package of the committed tree (debian/): built from a copy in
# $(BUILD)/deb, so nothing is written beside the source; lintian must find
# no error. The .deb lands in $(BUILD)/deb/.
deb:
	@command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null && \
	  command -v lintian >/dev/null || sh scripts/install-deps.sh debhelper lintian fakeroot
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/dtr
	git archive HEAD | tar -x -C $(BUILD)/deb/dtr
	git rev-parse --short=12 HEAD >$(BUILD)/deb/dtr/.git-commit
	cd $(BUILD)/deb/dtr && dpkg-buildpackage -us -uc -b
	lintian --fail-on error --suppress-tags bad-distribution-in-changes-file $(BUILD)/deb/*.changes

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-release

# ---- formatting: .clang-format over every C file in the tree -------------------
FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format:
	@command -v clang-format >/dev/null || sh scripts/install-deps.sh clang-format
	clang-format -i $(FORMAT_FILES)

format-check:
	@command -v clang-format >/dev/null || sh scripts/install-deps.sh clang-format
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: $(words $(FORMAT_FILES)) files formatted"

# ---- fuzzing: libFuzzer targets from tests/fuzz/ (clang only) ----------------
# `make fuzz` builds dtrcore with clang, coverage and ASan+UBSan, links each
# tests/fuzz/fuzz_*.c with libFuzzer and runs it for FUZZ_SECONDS, seeded from
# tests/fuzz/corpus/NAME/. New inputs go to $(FUZZ_BUILD)/corpus/NAME/ and a
# crash input to $(FUZZ_BUILD)/crashes/: fix the bug, then copy the input into
# tests/fuzz/corpus/NAME/ so the CTest replay keeps checking it.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_ARGS    ?=
FUZZ_TARGETS ?= $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_LIBS     = $$(pkg-config --libs libuv json-c sqlite3 libsodium) -lm

.PHONY: fuzz fuzz-deps fuzz-build

fuzz-deps: deps
	@CC_FUZZ=$(FUZZ_CC) sh scripts/install-fuzz-deps.sh

fuzz-build: fuzz-deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=$(FUZZ_CC) -DCMAKE_BUILD_TYPE=Debug \
	  -DDTR_SANITIZE=address,undefined -DDTR_WERROR=OFF \
	  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target dtrcore
	@for t in $(FUZZ_TARGETS); do \
	  echo "linking $(FUZZ_BUILD)/$$t"; \
	  $(FUZZ_CC) -g -O1 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all tests/fuzz/$$t.c $(FUZZ_BUILD)/libdtrcore.a $(FUZZ_LIBS) \
	    -o $(FUZZ_BUILD)/$$t || exit 1; \
	done

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/crashes; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS)s"; \
	  $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- $(FUZZ_ARGS) \
	    $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# ---- chaos: fault injection across network namespaces (root, iproute2, nftables)
# `make chaos SEED=N DURATION=SECS` runs tests/chaos/run.sh long: a randomized
# schedule of worker kills, freezes, partitions (short and past the master
# timeout), master kills, full disks and loss bursts over lossy links, drawn
# from SEED (random when not given; printed so a failure can be replayed),
# then tests/chaos/check.py checks the invariants and prints the summary.
# The short fixed schedule runs in CTest as tests/integration/t_chaos_short.sh.
SEED     ?=
DURATION ?= 120
# Then the master group's scenarios (tests/chaos/run.sh group): GROUP_ROUNDS
# rounds of a follower cut off, the leader cut off from the majority, the
# leader SIGKILLed and restarted, a member's disk full; three members on
# hosts of their own. t_chaos_group.sh runs one round in CTest.
GROUP_ROUNDS ?= 3

.PHONY: chaos

chaos: build
	rc=0; DTR=$(BUILD)/dtr bash tests/chaos/run.sh long "$(SEED)" "$(DURATION)" || rc=1; \
	DTR=$(BUILD)/dtr bash tests/chaos/run.sh group --rounds "$(GROUP_ROUNDS)" \
	    --seed "$(or $(SEED),1)" || rc=1; exit $$rc
