# Ratatoskr: make test (vet + race tests), make demo, make bench, make bench-e2e, make soak, make fuzz, make proto.
GO        ?= go
FUZZTIME  ?= 20s
BENCHTIME ?= 1s
ARGS      ?=
BIN       := $(CURDIR)/bin

.PHONY: all test vet demo bench bench-e2e soak fuzz proto tools

all: test

## test: go vet and every test under the race detector.
test: vet
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

## demo: the example server on embedded defaults and a client exchange.
demo:
	$(GO) run ./example/demo

## bench: every benchmark (set REDIS_URL to include a real Redis).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## bench-e2e: example server vs a bare coder/websocket echo, separate processes on 127.0.0.1:
##   server CPU per request, bare ed25519.Verify, the ratios; 5 interleaved rounds, medians.
##   ARGS=-idle: server memory per idle connection instead. ARGS=-h: every flag.
bench-e2e:
	$(GO) run ./internal/cmd/benche2e $(ARGS)

## soak: the long load-and-fault test (200 connections x 100 requests, hostile frames, cuts);
##   make test runs a short variant of it.
soak:
	RATATOSKR_SOAK=1 $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 10m ./ratatoskrhttp/

## fuzz: each fuzz target for FUZZTIME.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## proto: regenerate proto/ratatoskr.pb.go (needs protoc: apt-get install protobuf-compiler).
proto: tools
	cd proto && protoc --plugin=protoc-gen-go=$(BIN)/protoc-gen-go \
	  --go_out=. --go_opt=paths=source_relative ratatoskr.proto

tools:
	$(GO) build -o $(BIN)/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
