# SPDX-License-Identifier: MIT
# The two commands a new user needs: `make demo` and `make test`. Both install
# missing Debian packages first (apt-get; needs root or sudo) and build.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?= --output-on-failure

.PHONY: all deps build demo test unit asan bench clean

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
	sh bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-release
