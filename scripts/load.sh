#!/usr/bin/env bash
# `make load`: concurrent chat plugins against the local stack (see
# docs/local-aws.md, "Load"). By default on a stack of its own (moto and
# chatlogger-local on free ports); with LOAD_BASE_URL set, against a running
# `make dev` (settings from .env.local). Arguments go to chatlogger-load
# (`--help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --locked -p chatlogger-local -p chatlogger-load
# make load also times how long messages take to reach their summary, for a
# quiet org (a message every 10 s) and an active one (one a second).
export LOAD_FRESHNESS_MESSAGES="${LOAD_FRESHNESS_MESSAGES:-12}"

if [[ -n "${LOAD_BASE_URL:-}" ]]; then
  set -a
  source .env.local
  set +a
  exec target/debug/chatlogger-load --base-url "$LOAD_BASE_URL" "$@"
fi

source scripts/moto.sh
source scripts/stack.sh
mkdir -p target
moto_port=$(free_port)
start_moto "$moto_port" target/moto-load.log
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE AWS_SESSION_TOKEN
start_local_stack target/local-load.log
echo "local stack on $STACK_URL (logs: target/moto-load.log, target/local-load.log)"
target/debug/chatlogger-load --base-url "$STACK_URL" "$@"
