# Common tasks. CI runs .ci/run (fmt, clippy, tests).
CARGO ?= cargo

.PHONY: example demo test lint fmt bench crds golden peers ci image image-push chart chart-sync

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

crds:               ## regenerate crds/ (and the copies in deploy/crds/ and the chart) from the Rust types
	$(CARGO) run --quiet -- crd --out-dir crds
	$(CARGO) run --quiet -- crd --out-dir deploy/crds
	$(MAKE) chart-sync

VENV ?= /tmp/kompliance-venv
REGISTRY ?=
IMAGE_NAME ?= kompliance

image:              ## OCI image of the release binary, no container engine: target/kompliance-image.tar (needs umoci, skopeo)
	bash image/build.sh

image-push:         ## push the image: make image-push REGISTRY=ghcr.io/you (skopeo copy; not run in CI: no registry is reachable there)
	@test -n "$(REGISTRY)" || { echo "REGISTRY is required, e.g. make image-push REGISTRY=ghcr.io/you"; exit 2; }
	skopeo copy oci-archive:target/kompliance-image.tar docker://$(REGISTRY)/$(IMAGE_NAME):$$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

chart-sync:         ## copy crds/, the dashboard and the rules into charts/kompliance/files/, regenerate values.schema.json
	mkdir -p charts/kompliance/files/crds
	rm -f charts/kompliance/files/crds/*.yaml
	cp crds/*.yaml charts/kompliance/files/crds/
	cp deploy/monitoring/grafana-dashboard.json deploy/monitoring/prometheus-rules.yaml charts/kompliance/files/
	$(CARGO) run --quiet -- catalog -o json | python3 tests/chart/schema.py > charts/kompliance/values.schema.json

chart:              ## package the Helm chart: target/charts/kompliance-<version>.tgz (Helm 4's engine from $(VENV))
	$(VENV)/bin/python tests/chart/render.py --package charts/kompliance target/charts

golden:             ## regenerate tests/golden/ (review the diff!)
	UPDATE_GOLDEN=1 $(CARGO) test --test golden --test table

peers:              ## install trivy and checkov offline, for side-by-side figures
	bash ../shared/tools/install-peers.sh

ci:
	bash .ci/run
