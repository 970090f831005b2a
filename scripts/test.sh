#!/usr/bin/env bash
# `make test`: every test against its own moto on a free port (so it also
# passes while `make dev` runs), then the template checks.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto.sh

port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target
start_moto "$port" target/moto-test.log

# The standard AWS environment, pointed at this run's moto. Tests that need
# AWS fail (never skip) without it.
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE AWS_SESSION_TOKEN

cargo test --workspace --locked

echo "== browser tests (web/tests: headless Chromium against chatlogger-local)"
cargo build --locked -p chatlogger-local -p chatlogger-admin
(cd web && npm test)

echo "== template checks"
.venv/bin/cfn-lint template.yaml
# No telemetry: this must work offline.
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 .venv/bin/sam validate --lint --template template.yaml
