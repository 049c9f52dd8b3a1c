# Set up a fresh Debian machine and do the work: `make bench`, `make test`.
SWIFT ?= swift
APT_PACKAGES := liblz4-dev pkg-config

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := block table filter wal manifest current checkpoint-metadata job-metadata csv

.PHONY: ui-check lint fuzz fuzz-replay tsan soak deps build test unit-test embed-check bench checkpoint-bench microbench store-bench property-long release clean rocksdb-deps rocksdb-rmw rmw-bench bench-check

# Installs the system packages the build needs when they are missing (Debian).
# Installs the Debian packages given as $(1) that are missing.
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

# moto's S3 server (PyPI moto[server]) for the S3 tests, which start it on loopback themselves.
deps:
	$(call apt_install,$(APT_PACKAGES))
	@command -v moto_server >/dev/null 2>&1 || python3 -m pip install -q 'moto[server]'


build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: lint embed-check unit-test

# The toolchain's swift format, with .swift-format (4 spaces, lines at most 120): any warning fails.
lint:
	$(SWIFT) format lint --strict -r Sources Tests Examples/EmbedLSMStore/Sources

unit-test: deps
	$(SWIFT) test
	$(SWIFT) run lsm-fuzz replay Tests/FuzzCorpus

# Replays every input that ever failed a fuzz target (part of `make test`).
fuzz-replay: deps
	$(SWIFT) run lsm-fuzz replay Tests/FuzzCorpus

# libFuzzer on every decoder for FUZZ_SECONDS each (opt-in; its own build folder). Inputs that
# fail land in Tests/FuzzCorpus/<target>/ (commit them with the fix: `make test` replays
# them); the growing working corpus stays in .build-fuzz/corpus/.
fuzz: deps
	$(SWIFT) build --scratch-path .build-fuzz --product lsm-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DLIBFUZZER
	@status=0; for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build-fuzz/corpus/$$t Tests/FuzzCorpus/$$t; \
	  echo "fuzz $$t for $(FUZZ_SECONDS) s"; \
	  LSM_FUZZ_TARGET=$$t SWIFT_BACKTRACE=enable=no .build-fuzz/debug/lsm-fuzz .build-fuzz/corpus/$$t Tests/FuzzCorpus/$$t \
	    -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=Tests/FuzzCorpus/$$t/ -print_final_stats=1 \
	    > .build-fuzz/$$t.log 2>&1 || { status=1; echo "  $$t FAILED: see .build-fuzz/$$t.log and Tests/FuzzCorpus/$$t/"; }; \
	  grep -E "^stat::number_of_executed_units" .build-fuzz/$$t.log | sed "s/^/  /"; \
	done; exit $$status

# A separate package that depends on the LSMStore product alone must build and work.
embed-check: deps
	cd Examples/EmbedLSMStore && $(SWIFT) run --scratch-path ../../.build-embed EmbedLSMStore

# The live monitoring page in headless Chromium (opt-in; installs Debian's chromium): a small
# experiment with --serve, the page loaded while it runs and after, its charts checked, and
# screenshots in .build-ui-check/.
ui-check: release
	$(call apt_install,chromium curl)
	tools/ui-check/ui-check.sh

# The standard experiment: full against incremental checkpoints on the keyed CSV job
# (generates bench-data/ once; results in bench-results/<date-time>/).
bench: release
	$(SWIFT) run -c release Bench

# The store's checkpoints without the runtime, both compaction styles.
checkpoint-bench: release
	$(SWIFT) run -c release Bench checkpoints --preset large --compaction both

# Microbenchmarks (ordo-one/benchmark, a separate package in Benchmarks/; not part of make test).
microbench: deps
	cd Benchmarks && $(SWIFT) package benchmark

store-bench: release
	$(SWIFT) run -c release Bench store

# RocksDB 7.8 (Debian's librocksdb-dev, and rocksdb-tools for db_bench), for the comparisons
# only: nothing in the build or the tests needs it.
ROCKSDB_PACKAGES := librocksdb-dev rocksdb-tools
rocksdb-deps:
	$(call apt_install,$(ROCKSDB_PACKAGES))

# The read-modify-write workload on RocksDB through its C API (tools/rocksdb-rmw).
rocksdb-rmw: rocksdb-deps
	mkdir -p .build-rocksdb
	$(CC) -O2 -std=c11 -Wall -Wextra -o .build-rocksdb/rmw tools/rocksdb-rmw/rmw.c -lrocksdb -lm

# Regression check (opt-in, a few minutes): fill, readrandom, the RMW workload and the keyed
# job with a small state cache, beside RocksDB's db_bench and the RMW harness in one run;
# prints the ratios and fails when one falls below half of its target.
bench-check: release rocksdb-rmw
	$(SWIFT) run -c release Bench check --rmw-harness .build-rocksdb/rmw

# The read-modify-write workload on the store beside RocksDB, in one run, both modes.
rmw-bench: release rocksdb-rmw
	$(SWIFT) run -c release Bench rmw --mode none,full,incremental --rocksdb .build-rocksdb/rmw

# The model-based property test with many more operations (opt-in soak).
property-long: deps
	LSM_PROPERTY_LONG=1 $(SWIFT) test --filter ModelPropertyTests

# The concurrency tests under ThreadSanitizer (its own build folder; several minutes to build).
tsan: deps
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter "ConcurrencyTests|CheckpointTests|CheckpointIntegrityTests|JobTests|MemtableTests|StateBackendTests"

# Long soak runs (opt-in): 1,000 kill -9 rounds and the long property tests.
soak: deps
	LSM_KILL_ROUNDS=1000 $(SWIFT) test --filter KillTests
	LSM_PROPERTY_LONG=1 $(SWIFT) test --filter "ModelPropertyTests|CheckpointPropertyTests|JobTests|CSVJobTests"

clean:
	rm -rf .build .build-embed .build-tsan .build-fuzz
