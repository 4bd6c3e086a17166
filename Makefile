# EBRCS. Two commands do everything on a fresh Debian 12 machine:
#   make run    installs what is missing, builds, starts the server (http://localhost:8080)
#   make test   installs what is missing, then runs every test
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := build/ebrcs
PLUGIN_DIR := build/plugin
# Packages whose concurrency matters run under the race detector; the rest run plainly.
RACE_PKGS := ./pipelines/... ./elements/... ./web/... ./models/... ./data/... ./recognition/... \
	./cart/... ./checkout/... ./cluster/ ./internal/spool/
OTHER_PKGS = $(shell $(GO) list ./... | grep -v -e '/pipelines' -e '/elements' -e '/web' -e '/models' -e '/data' \
	-e '/recognition' -e '/cart' -e '/checkout' -e '/e2e' -e '/cluster$$' -e '/internal/spool$$')

.PHONY: all install models build plugin run test test-race bench eval docs check-pipelines doctor fmt vet clean soak fuzz fuzz-ci

all: build plugin

# Native dependencies (GStreamer, libfaiss_c, ONNX Runtime, Chromium, ...). Idempotent:
# a second run takes well under a second.
install:
	@bash scripts/install-deps.sh

# Default model files under models/ (copied from ../shared/models or downloaded + derived).
models:
	@bash scripts/fetch-models.sh

build: install
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/ebrcs

# The Go elements as a GStreamer plugin library for gst-launch-1.0:
#   gst-launch-1.0 --gst-plugin-path=build/plugin videotestsrc num-buffers=30 ! ebrcs_passthrough ! fakesink
plugin: install
	@mkdir -p $(PLUGIN_DIR)
	$(GO) build -buildmode=c-shared -o $(PLUGIN_DIR)/libgstebrcs.so ./cmd/libgstebrcs
	@rm -f $(PLUGIN_DIR)/libgstebrcs.h

run: build models
	$(BIN) serve

test: install models
	$(GO) vet ./...
	$(GO) test -count=1 -race -timeout 15m $(RACE_PKGS)
	$(GO) test -count=1 $(OTHER_PKGS)
	@# The live tests that judge timing (they skip themselves under -race).
	$(GO) test -count=1 -run 'TestLiveLossRecovers|TestLiveSessionStaysInStep' ./web/
	@# The browser tests last, alone: a real-time camera in Chromium degrades under the load of
	@# other packages testing in parallel, as it would on a busy machine.
	$(GO) test -count=1 ./e2e/
	@# Short fuzz runs (crashers found become regression tests under testdata/fuzz).
	$(MAKE) --no-print-directory fuzz-ci

# Fuzzing: the pipeline YAML loader, password redaction, WHIP/WHEP offers, image decoding, the
# ROI and cart JSON handlers. `make fuzz FUZZTIME=10m` for a longer run.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./pipelines/
	$(GO) test -run '^$$' -fuzz '^FuzzRedact$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./pipelines/
	$(GO) test -run '^$$' -fuzz '^FuzzInspectOffer$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./signaling/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeImage$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./data/
	$(GO) test -run '^$$' -fuzz '^FuzzROIAndCartJSON$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./web/

fuzz-ci:
	$(MAKE) --no-print-directory fuzz FUZZTIME=8s

# Benchmarks, each side by side with its reference in the same run (see the issues' notes).
bench: install models
	$(GO) test -run '^$$' -bench . -benchtime 20x ./elements/passthrough/ ./elements/overlay/
	@echo "--- ebrcs_bgsub against OpenCV 4.6 (foreground IoU, then ms per frame)"
	$(GO) test -count=1 -run TestMatchesOpenCV -v ./elements/bgsub/ | grep -E 'IoU|floor|blobs|ok'
	$(GO) test -run '^$$' -bench VsOpenCV -benchtime 3x ./elements/bgsub/
	@echo "--- recognition: encoder vs bare ONNX Runtime, batching, product registration, search"
	$(GO) test -run '^$$' -bench 'DefaultEncoder|BatchSize' -benchtime 50x ./models/
	$(GO) test -run '^$$' -bench RegisterProduct -benchtime 10x ./recognition/
	$(GO) test -run '^$$' -bench 'CatalogSearch' -benchtime 2000x ./data/
	@echo "--- checkout: file processing speed (x-realtime, next to decoding alone) and count latency"
	$(GO) test -run '^$$' -bench 'CheckoutFile|CountLatency' -benchtime 1x ./checkout/
	@echo "--- live checkout over WebRTC, measured at the clients (pion WHIP clients in a child process replaying a"
	@echo "    640x480@15 camera clip at 1.5 Mbit/s): per N sessions the worst and mean session's frames back, first"
	@echo "    picture, latency p95, exact carts, entry-to-count p95 and the server's CPU; entry-to-count over 30 visits;"
	@echo "    one live-encoding camera at 30 fps in 20 fresh sessions; product registration until recognised"
	$(GO) test -run '^$$' -bench 'LiveSessions$$|LiveCountLatency|LiveSessionInStep|RegisterUntilRecognised' -benchtime 1x -timeout 60m ./web/
	@echo "--- IP cameras: RTSP cameras at 640x480@15 H.264 on loopback through the checkout chain (EBRCS_BENCH_CAMERAS=...)"
	EBRCS_BENCH_CAMERAS=$${EBRCS_BENCH_CAMERAS:-1,8,16,24,32} $(GO) test -run '^$$' -bench Cameras -benchtime 1x -timeout 30m ./pipelines/
	@echo "--- events: what one node publishes to NATS JetStream with persistence (on-disk queue, file storage), and an Emit's cost"
	$(GO) test -run '^$$' -bench 'Publish|Emit' -benchtime 200000x ./cluster/
	@echo "--- one catalog in PostgreSQL: registration on one node until all three have it (p50/p95), and a node's"
	@echo "    cold start against 10,000 products until its first recognition"
	$(GO) test -run '^$$' -bench RegisterUntilEveryNode -benchtime 1x ./clustertest/
	$(GO) test -run '^$$' -bench ReplicaColdStart -benchtime 1x -timeout 30m ./data/
	@echo "--- FAISS search at 10k and 100k vectors (flat and HNSW; HNSW builds take minutes, cached in build/benchcache;"
	@echo "    EBRCS_BENCH_1M=flat adds 1M vectors)"
	mkdir -p build/benchcache
	EBRCS_BENCH_CACHE=$(CURDIR)/build/benchcache $(GO) test -run '^$$' -bench 'IndexSearch/n=(10k|100k|1M)' -benchtime 300x -timeout 3h ./data/

# 30 minutes of WebRTC sessions churned (half dropped abruptly) while products are registered
# and removed; RSS and goroutines every 10 s, plotted to build/soak/soak.png (+ soak.csv).
SOAK ?= 30m
soak: install models
	set -o pipefail; EBRCS_SOAK=$(SOAK) EBRCS_SOAK_OUT=$(CURDIR)/build/soak $(GO) test -count=1 -run '^TestSoak$$' -timeout 60m -v ./web/ | grep -v INFO

# Recognition accuracy on the real GroceryStore photos (../shared/datasets): the catalog is each
# class's iconic image plus its first 5 train photos, the queries are the val photos. Static
# (each query against the catalog as built) and online (queries in seeded random order, asked
# and wrongly counted ones answered and learned, as at a checkout); then with every 4th query
# product left out of the catalog.
EVAL_DIR ?= build/grocery
EVAL_SEEDS ?= 1
eval: build models
	bash scripts/grocery-layout.sh $(EVAL_DIR)
	$(BIN) eval --catalog $(EVAL_DIR)/catalog --queries $(EVAL_DIR)/queries --online --seed $(EVAL_SEEDS) --report $(EVAL_DIR)/report
	@echo "--- unknown products: every 4th query product left out of the catalog"
	$(BIN) eval --catalog $(EVAL_DIR)/catalog --queries $(EVAL_DIR)/queries --holdout 4 --online --seed $(EVAL_SEEDS) | tail -5

docs:
	$(GO) run ./cmd/ebrcs elements --markdown > docs/elements.md

check-pipelines: build
	$(BIN) pipelines check configs/pipelines/*.yaml configs/examples/*.yaml

doctor: build models
	$(BIN) doctor

fmt:
	gofmt -l -w .

clean:
	rm -rf build
