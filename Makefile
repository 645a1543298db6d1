# cloudmux — the two commands a new user needs are `make run` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
CLOUDMUX_CONFIG ?= examples/quickstart.yaml
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all build run test unit e2e asan bench deps test-deps clean format install

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

# Installs under $(DESTDIR)$(PREFIX): bin/cloudmux, share/cloudmux/pricing.yaml,
# share/cloudmux/examples/, share/doc/cloudmux/ (see README.md, "Install").
install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

bench: build
	@scripts/deps.sh bench
	bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
