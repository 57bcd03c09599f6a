# Cobol Protocol — every entry point a user or CI needs. `make help` lists them.
SHELL := /bin/bash
PY    := .venv/bin/python
PIP   := .venv/bin/pip
STAMP := .venv/.installed
CORPORA ?= ../shared/corpora

.PHONY: help setup build proto test test-unit bench bench-memory loadtest fuzz up down status demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@command -v python3.11 >/dev/null || command -v python3 >/dev/null || { echo "python3.11 is required" >&2; exit 1; }
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	touch $(STAMP)

build: $(STAMP) proto ## compile the Cython layers in place (only what changed)
	$(PY) setup.py -q build_ext --inplace
	test -f .venv/.editable || { COBOL_SKIP_EXT=1 $(PIP) install -q -e . --no-deps --no-build-isolation && touch .venv/.editable; }

proto: $(STAMP) ## generate the protobuf / gRPC modules
	bash scripts/gen_proto.sh

setup: $(STAMP) proto build ## install everything (Python deps, Kafka jars, Redis, PostgreSQL) idempotently
	$(PY) scripts/infra.py install

test: setup ## run the whole suite: unit, integration (real Kafka/Redis/PostgreSQL), e2e
	$(PY) -m pytest -q -p no:cacheprovider tests

test-unit: $(STAMP) build ## unit tests only (no services)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

bench: $(STAMP) build ## codec against zstd, xz, brotli, OpenZL; threads, small frames, records (QUICK=1: a few minutes; CLOCK=cpu on a busy machine; DIRS=... adds folders)
	$(PY) bench/codec_bench.py $(CORPORA) $(DIRS) $(if $(QUICK),--quick) $(if $(CLOCK),--clock $(CLOCK))

bench-memory: $(STAMP) build ## a 2 GiB stream through cobol compress/decompress: peak RSS and MB/s
	$(PY) bench/stream_memory.py --gib $${GIB:-2}

loadtest: up ## mesh figures: 256 MiB job with 1 and 2 compressors, record->frame latency at 1,000/s
	$(PY) loadtests/mesh_throughput.py --mib $${MIB:-256} --verify
	$(PY) loadtests/record_latency.py --rate $${RATE:-1000} --seconds $${LOAD_SECONDS:-20}

fuzz: $(STAMP) build ## coverage-guided fuzzing of the decoder (FUZZ_SECONDS, default 60); findings in fuzz/findings
	mkdir -p fuzz/findings
	$(PY) fuzz/fuzz_decoder.py -max_total_time=$${FUZZ_SECONDS:-60} -rss_limit_mb=2048 -timeout=300 \
		-artifact_prefix=fuzz/findings/ fuzz/corpus

up: setup ## start Kafka, Redis, PostgreSQL and every service in the background
	$(PY) scripts/mesh.py up

down: ## stop exactly what `make up` started
	$(PY) scripts/mesh.py down

status: ## what is running
	$(PY) scripts/mesh.py status

demo: up ## send a corpus file through REST and a device stream through Kafka; print what happened
	$(PY) scripts/demo.py

clean: down ## remove build products and local data (keeps .venv and the jar cache)
	rm -rf build .data .run libs/mesh/cobol_proto
	find libs -name '*.so' -delete; find libs -name '*.c' -path '*layers*' -delete
