# cloudmux — the two commands a new user needs are `make run` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
CLOUDMUX_CONFIG ?= examples/quickstart.yaml
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build run test unit e2e asan bench bench-hotpath bench-conns bench-streams deps test-deps clean format

all: build

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test
	@cd tests && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; }

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/cloudmux serve --config $(CLOUDMUX_CONFIG)

test: test-deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	CLOUDMUX_BIN=$(abspath $(BUILD))/cloudmux node --test --test-concurrency=1 tests/e2e/

asan: test-deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMX_ASAN=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 CLOUDMUX_BIN=$(abspath $(ASAN_BUILD))/cloudmux node --test --test-concurrency=1 tests/e2e/

# The whole benchmark (about 4 minutes): the hot path against nginx, memory
# per idle connection against nginx, ten thousand concurrent streams.
bench: bench-hotpath bench-conns bench-streams

bench-hotpath: build
	@scripts/deps.sh bench
	bench/run.sh

bench-conns: build
	@scripts/deps.sh bench
	bench/conns.sh

bench-streams: build
	@scripts/deps.sh bench
	bench/streams.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
