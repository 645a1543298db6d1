# cloudmux — the two commands a new user needs are `make run` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
STATIC_BUILD ?= build-static
CLOUDMUX_CONFIG ?= examples/quickstart.yaml
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all build static image run test unit e2e asan bench bench-hotpath bench-conns bench-streams bench-ingress \
	bench-state bench-callgrind \
	deps test-deps clean format install

all: build

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test
	@cd tests && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; }

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# A fully static x86_64 executable, stripped: $(STATIC_BUILD)/cloudmux.  The
# linker warns that glibc's getaddrinfo/dlopen need shared NSS modules at run
# time; the gateway resolves names with evdns and binds numeric addresses, so
# those paths are not taken (the output is kept in build.log).
static: deps
	@cmake -S . -B $(STATIC_BUILD) -DCMAKE_BUILD_TYPE=Release -DCMX_STATIC=ON >/dev/null
	@cmake --build $(STATIC_BUILD) -j $(JOBS) --target cloudmux_bin >$(STATIC_BUILD)/build.log 2>&1 || \
	  { cat $(STATIC_BUILD)/build.log; exit 1; }
	@strip $(STATIC_BUILD)/cloudmux
	@echo "$(STATIC_BUILD)/cloudmux: $$(file -b $(STATIC_BUILD)/cloudmux 2>/dev/null | cut -d, -f1-5)"

# The container image from the static executable (docker or podman; pulls
# nothing): deploy/build-image.sh, tag $(CLOUDMUX_IMAGE).
CLOUDMUX_IMAGE ?= cloudmux:latest
image: static
	@CLOUDMUX_IMAGE=$(CLOUDMUX_IMAGE) CLOUDMUX_STATIC_BIN=$(abspath $(STATIC_BUILD))/cloudmux deploy/build-image.sh

run: build
	$(BUILD)/cloudmux serve --config $(CLOUDMUX_CONFIG)

# The static build is for the container-image test.
test: test-deps build static
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	CLOUDMUX_BIN=$(abspath $(BUILD))/cloudmux node --test --test-concurrency=1 tests/e2e/

asan: test-deps static
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMX_ASAN=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 CLOUDMUX_BIN=$(abspath $(ASAN_BUILD))/cloudmux node --test --test-concurrency=1 tests/e2e/

# Installs under $(DESTDIR)$(PREFIX): bin/cloudmux, share/cloudmux/pricing.yaml,
# share/cloudmux/examples/, share/doc/cloudmux/ (see README.md, "Install").
install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

# The whole benchmark (about 5 minutes): the hot path against nginx, memory
# per idle connection against nginx, ten thousand concurrent streams, the
# Messages and Responses APIs against chat completions.
bench: bench-hotpath bench-conns bench-streams bench-ingress

bench-hotpath: build static
	@scripts/deps.sh bench
	bench/run.sh

bench-conns: build
	@scripts/deps.sh bench
	bench/conns.sh

bench-streams: build
	@scripts/deps.sh bench
	bench/streams.sh

bench-ingress: build
	@scripts/deps.sh bench
	bench/ingress.sh

# The fleet's variants alone: state in Redis (no limits, an rpm limit) and
# cache hits against the state-less gateway and nginx, then the same
# variants in instructions per request (callgrind, independent of load).
bench-state: build
	@scripts/deps.sh bench
	BENCH_TARGETS="cloudmux cloudmux-redis cloudmux-redis-rpm cloudmux-cache" BENCH_LEDGER_ROWS=0 bench/run.sh
	bench/callgrind.sh

bench-callgrind: build
	@scripts/deps.sh bench
	bench/callgrind.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(STATIC_BUILD) build-image
