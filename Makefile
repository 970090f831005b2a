# chatlogger: `make dev` runs the local stack, `make test` runs every check.
# Python tools (moto, cfn-lint, SAM CLI, cargo-lambda, zig) live in .venv,
# pinned in tools/requirements.txt; nothing is installed globally.

SHELL := /bin/bash
VENV := .venv
VENV_STAMP := $(VENV)/.installed-$(shell sha256sum tools/requirements.txt | cut -c1-12)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: dev moto test lint fmt bench build sam-build venv clean

## dev: local AWS (moto) on :4566 and every route on http://127.0.0.1:3000
dev: $(VENV_STAMP)
	@scripts/dev.sh

## moto: only the local AWS, provisioned and seeded (for `cargo lambda watch`)
moto: $(VENV_STAMP)
	@scripts/moto-only.sh

## test: unit, integration (moto) and end-to-end tests, lints, template checks
test: $(VENV_STAMP)
	@scripts/test.sh
	@$(MAKE) --no-print-directory lint

## lint: rustfmt and clippy, warnings are errors
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

## bench: binary size, Lambda init time vs hello-world, ingest handler latency
bench: $(VENV_STAMP)
	@scripts/bench.sh

## build: the Lambda binaries for arm64, as SAM deploys them
build: $(VENV_STAMP)
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --arm64 --locked

sam-build: $(VENV_STAMP)
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	sam build

venv: $(VENV_STAMP)

$(VENV_STAMP): tools/requirements.txt
	rm -f $(VENV)/.installed-*
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

clean:
	cargo clean
	rm -rf $(VENV) .local .aws-sam
