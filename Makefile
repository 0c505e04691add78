# Common tasks. CI runs .ci/run (fmt, clippy, tests).
CARGO ?= cargo

.PHONY: example demo test lint fmt bench crds golden peers ci

example:            ## audit the bundled example cluster
	$(CARGO) run --release -- audit examples/ --config example-config.yaml --kubernetes-version v1.31.4

demo:               ## the operator against the in-memory API server seeded with examples/ (Ctrl-C stops)
	$(CARGO) run --release -- demo

test:               ## the test suite
	$(CARGO) test --workspace --tests

lint:               ## formatting and clippy, as CI runs them
	$(CARGO) fmt --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

bench: peers        ## corpus beside trivy, and the generated 100k-Pod list (figures in BENCHMARKS.md)
	$(CARGO) bench --bench audit
	$(CARGO) bench -p testkube --bench load
	$(CARGO) bench --bench operator_scale

crds:               ## regenerate crds/ (and the copy kustomize needs in deploy/crds/) from the Rust types
	$(CARGO) run --quiet -- crd --out-dir crds
	$(CARGO) run --quiet -- crd --out-dir deploy/crds

golden:             ## regenerate tests/golden/ (review the diff!)
	UPDATE_GOLDEN=1 $(CARGO) test --test golden --test table

peers:              ## install trivy and checkov offline, for side-by-side figures
	bash ../shared/tools/install-peers.sh

ci:
	bash .ci/run
