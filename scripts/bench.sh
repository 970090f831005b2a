#!/usr/bin/env bash
# `make bench`: the ingest function's release binary size (arm64, as
# deployed), its cold-start time next to a minimal lambda_http hello-world
# (both x86_64 release builds, same profile, run against a local runtime
# API), in-process ingest handler latency, the analytics aggregator's
# write units per message (sized as billed), writes per item per second for
# a hot org, the summary's reads for 366 days, one chat listing's reads,
# the export pipeline's throughput and peak memory at 100k and 1M rows,
# one local (moto) DynamoDB transaction's latency at 1,000 and 100,000 items,
# and what a logged message costs, everything billed: $ per million
# messages for three tenant profiles, single and in batches of 100, at 1, 4
# and 32 stream shards, beside the floor (a simulation through the real
# ingest and aggregator against moto; writes target/bench/cost.json).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "== release builds"
rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
# Each binary is built on its own so feature unification cannot inflate it.
cargo lambda build --release --arm64 --locked -p chatlogger-ingest --bin ingest
cargo build --release --locked -p chatlogger-ingest --bin ingest
cargo build --release --locked -p chatlogger-bench --bin hello-lambda --bin chatlogger-bench

echo "== binary size (stripped, arm64)"
size=$(stat -c %s target/lambda/ingest/bootstrap)
awk -v s="$size" 'BEGIN { printf "ingest bootstrap (arm64): %.2f MB (%d bytes); target <= 8 MB\n", s / 1e6, s }'

echo "== cold start against a local Lambda runtime API"
target/release/chatlogger-bench init --runs 30 --event events/ingest-create-chat.json \
  target/release/hello-lambda target/release/ingest

echo "== ingest handler"
target/release/chatlogger-bench ingest --requests 20000

echo "== credentials: one login next to one API-key verification"
target/release/chatlogger-bench credentials

echo "== exports: 100k vs 1M messages per format, in-memory source and sink, peak RSS per run"
target/release/chatlogger-bench exports --rows 100000,1000000

echo "== analytics: writes per org-day item per second for an org logging 1,000 messages/s (in memory)"
target/release/chatlogger-bench hot-org --rate 1000 --shards 4 --seconds 60

source scripts/moto.sh
port=$(free_port)
mkdir -p target
start_moto "$port" target/moto-bench.log
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE AWS_SESSION_TOKEN
echo "== analytics summary: DynamoDB reads for a 366-day range at the largest items (against moto)"
target/release/chatlogger-bench summary --days 366
echo "== chats list: read units of one 100-chat page, chats of more than 4 MiB and ordinary ones, metered (against moto)"
target/release/chatlogger-bench chats-list

echo "== local DynamoDB transactions (moto through tools/moto_server.py): latency at 1,000 and 100,000 items"
target/release/chatlogger-bench transactions --items 1000,100000

# The cost simulations (see bench/src/cost.rs) are bound by moto, which
# serves one request at a time: a second moto server runs every other
# simulation, so both cores work.
echo "== cost: \$ per million messages, everything billed, per profile, mode and shard count (simulated, against moto)"
cost_port=$(free_port)
.venv/bin/python tools/moto_server.py -H 127.0.0.1 -p "$cost_port" >target/moto-bench-cost.log 2>&1 &
COST_MOTO_PID=$!
trap 'kill "$MOTO_PID" "$COST_MOTO_PID" 2>/dev/null; wait "$MOTO_PID" "$COST_MOTO_PID" 2>/dev/null || true' EXIT
wait_for_port "$cost_port" "$COST_MOTO_PID" moto target/moto-bench-cost.log 10
target/release/chatlogger-bench cost --endpoints "$AWS_ENDPOINT_URL,http://127.0.0.1:$cost_port"
