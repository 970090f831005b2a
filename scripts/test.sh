#!/usr/bin/env bash
# `make test`: every test against its own moto on a free port (so it also
# passes while `make dev` runs), a small load run and the API fuzzing against
# a local stack on that moto, the browser tests, then the template checks.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto.sh
source scripts/stack.sh

port=$(free_port)
mkdir -p target
start_moto "$port" target/moto-test.log

# The standard AWS environment, pointed at this run's moto. Tests that need
# AWS fail (never skip) without it.
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE AWS_SESSION_TOKEN

cargo test --workspace --locked

# What follows runs on a moto of its own: the one above holds everything the
# tests wrote (a 100,000-value day, whole streams), and the load run's p99
# twice passed a second on it (likely that large Python heap's pauses).
kill "$MOTO_PID" 2>/dev/null; wait "$MOTO_PID" 2>/dev/null || true
port=$(free_port)
start_moto "$port" target/moto-stack.log
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"

# The local stack itself, on this moto with resources of its own: a small
# load run (targets as `make load`) and the API fuzzing.
cargo build --quiet --locked -p chatlogger-local -p chatlogger-load -p chatlogger-admin
start_local_stack target/local-test.log
echo "== load: 10 plugins x 50 messages (make load runs 50 x 200)"
target/debug/chatlogger-load --base-url "$STACK_URL" --plugins 10 --messages 50
echo "== API fuzzing (schemathesis, schemathesis.toml)"
scripts/fuzz.sh "$STACK_URL"

echo "== browser tests (web/tests: headless Chromium against chatlogger-local)"
(cd web && npm test)

echo "== template checks"
.venv/bin/cfn-lint template.yaml
# No telemetry: this must work offline.
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 .venv/bin/sam validate --lint --template template.yaml
