# kitexsuite: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
# Every module of the workspace, from go.work.
MODULES := $(shell $(GO) work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p')
# Library modules: what users `go get`. They must build and test alone
# (GOWORK=off), exactly as a user gets them.
LIBRARIES := . tracing tracing/opentracing metrics logging logging/zap logging/logrus registry/etcd registry/consul registry/k8s

.PHONY: demo test tools vet race e2e-report e2e-kind kind standalone tidy-check fmt-check lint bench bench-table bench-discovery fuzz

demo: ## run the traced three-service chain and print what it observed
	$(GO) run ./examples/demo $(ARGS)

test: tools fmt-check vet race standalone tidy-check kind ## everything CI checks

# Real servers and linters the tests use, installed or built once: promtool
# and the Prometheus server from Debian's prometheus package; the Consul
# agent built from tools/consul, the seven Kubernetes binaries (the
# harness's kube-apiserver + kube-controller-manager, and what a kind node
# runs) from tools/kubernetes, the Helm CLI from tools/helm and Jaeger v2
# from tools/jaeger into ~/.cache/kitexsuite (≈4, ≈9, ≈2 and ≈4 min the
# first time on 2 cores). etcd is embedded in the tests themselves. The
# kind node's own pieces are built by the kind target (scripts/kind).
tools:
	@command -v promtool >/dev/null || { echo "== installing Debian's prometheus package (promtool)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq prometheus >/dev/null; }
	@promtool --version | head -1
	@scripts/build-consul.sh >/dev/null && echo "consul $$(scripts/build-consul.sh)"
	@scripts/build-kubernetes.sh >/dev/null && echo "kubernetes $$(scripts/build-kubernetes.sh)"
	@scripts/build-helm.sh >/dev/null && echo "helm $$(scripts/build-helm.sh)"
	@scripts/build-jaeger.sh >/dev/null && echo "jaeger $$(scripts/build-jaeger.sh)"

vet:
	@for m in $(MODULES); do echo "== go vet $$m"; (cd $$m && $(GO) vet ./...) || exit 1; done
	@echo "== go vet -tags kind ./e2e (the kind scenarios compile)"; cd e2e && $(GO) vet -tags kind .

# The kind scenarios: the example chain Helm-installed on a kind v0.33.0
# cluster whose node image, component images and example images are built
# here from source (scripts/kind/build-*.sh, cached in ~/.cache/kitexsuite).
# Runs whenever a container engine answers; says loudly that it skipped
# otherwise. e2e-kind is the same, by its old name.
kind e2e-kind:
	@E2E_OUT=$(E2E_OUT) scripts/kind/e2e.sh

# The e2e packages run one at a time: their real servers (control planes,
# agents, the test-host network namespace) share the machine's two cores.
# The Kubernetes scenarios run in a process of their own: after the rest of
# the e2e package has run in the same process, a few calls to freshly
# started pods fail ("bad file descriptor when flush", or stall past their
# timeout). Likely cause, upstream: netpoll v0.7.2's listener Close closes
# the listener's fd twice (net_listener.go: syscall.Close(ln.fd), then
# ln.file.Close() on the same number), so a socket opened in between — a
# client dialling a new pod while an old server stops — can be closed
# under its owner.
race:
	@rm -rf $(E2E_OUT) && mkdir -p $(E2E_OUT)
	@for m in $(MODULES); do echo "== go test -race $$m"; \
		if [ "$$m" = ./e2e ]; then \
			(cd $$m && $(GO) test -race -count=1 -p 1 -timeout 30m -artifacts -outputdir=$(E2E_OUT) -skip '^TestK8s' ./... && \
				echo "== go test -race $$m (Kubernetes scenarios, own process)" && \
				$(GO) test -race -count=1 -timeout 20m -artifacts -outputdir=$(E2E_OUT) -run '^TestK8s' .); rc=$$?; \
			$(MAKE) --no-print-directory e2e-report; [ $$rc = 0 ] || exit 1; \
		else (cd $$m && $(GO) test -race -count=1 ./...) || exit 1; fi; done

# The scenario reports (markdown) the last e2e run wrote.
E2E_OUT := $(CURDIR)/.cache/e2e
e2e-report:
	@find $(E2E_OUT) -name report.md 2>/dev/null | sort | while read -r f; do echo; echo "== $$f"; cat "$$f"; done

# Each library module alone, as `go get` gives it: a missing require or a
# version only the workspace supplies fails here.
standalone:
	@for m in $(LIBRARIES); do echo "== GOWORK=off build+test $$m"; \
		(cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) test -count=1 ./...) || exit 1; done

# go mod tidy must leave every go.mod and go.sum unchanged (-diff prints
# what it would change and fails, touching nothing).
tidy-check:
	@for m in $(MODULES); do echo "== go mod tidy -diff $$m"; \
		(cd $$m && GOWORK=off $(GO) mod tidy -diff) || { echo "run go mod tidy in $$m and commit"; exit 1; }; done

fmt-check:
	@out=$$(git ls-files '*.go' | grep -v '/kitex_gen/' | xargs gofmt -l); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: fmt-check vet

# Per-RPC cost of bare Kitex, our suites and kitex-contrib peers, in one run.
bench:
	cd bench && $(GO) test -run '^$$' -bench . -benchmem -count=$${COUNT:-3}

# The README's table: PASSES passes of one compiled benchmark binary, each
# running every setup once, so every setup sees the same machine load;
# medians through benchstat (installed into the Go bin directory if absent).
bench-table:
	cd bench && $(GO) test -c -o $(CURDIR)/.cache/bench.test .
	@command -v benchstat >/dev/null || $(GO) install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
	@for i in $$(seq $${PASSES:-8}); do .cache/bench.test -test.run "^$$" -test.bench . -test.benchmem -test.benchtime=1s 2>/dev/null | grep ^Benchmark; done > .cache/bench.txt
	@PATH="$$PATH:$$($(GO) env GOPATH)/bin" benchstat .cache/bench.txt

# Discovery: propagation latency from Register/Deregister to the client's
# balancer, ours beside kitex-contrib registry-etcd v0.2.4 and
# registry-consul v0.2.0, against real etcd and Consul, and on a real
# Kubernetes control plane; Resolve cost; memory per 10 000 instances.
bench-discovery: tools
	cd e2e && $(GO) test -run '^$$' -bench 'Benchmark(Etcd|Consul|K8s)' -benchtime=20x -benchmem .

fuzz: ## run the wire-input fuzzers for a while (their seeds also run in `make test`)
	cd tracing && $(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime $${FUZZTIME:-60s} .
	cd registry/etcd && $(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $${FUZZTIME:-60s} .
