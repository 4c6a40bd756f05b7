# mailproc — the two set-up commands are `make run` and `make test` (see README.md).
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
CONF ?= etc/mailprocd.conf
FUZZ_SECONDS ?= 60

.PHONY: all deps build run test asan fuzz bench format clean

all: build

deps:
	@.ci/install-deps

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

run: build
	$(BUILD)/bin/mailprocd -c $(CONF)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	$(MAKE) test BUILD=build-asan BUILD_TYPE=Debug CMAKE_FLAGS=-DMP_SANITIZE=ON

# libFuzzer targets (clang), each run for FUZZ_SECONDS on its stored corpus.
fuzz: deps
	CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMP_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j$(JOBS) --target fuzz_targets
	tests/fuzz/run-all build-fuzz/bin $(FUZZ_SECONDS)

# smtp-source -> mailprocd -> smtp-sink beside Postfix (as root); prints the ratio.
bench: build
	bench/vs_postfix.py

format:
	find common smtpd queue rewrite transports tools tests bench \( -name '*.cpp' -o -name '*.hpp' \) | xargs clang-format -i

clean:
	rm -rf build build-asan build-fuzz
