#!/usr/bin/env bash
# `make bench`: the ingest function's release binary size (arm64, as
# deployed), its cold-start time next to a minimal lambda_http hello-world
# (both x86_64 release builds, same profile, run against a local runtime
# API), in-process ingest handler latency, and the export pipeline's
# throughput and peak memory at 100k and 1M rows.
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
