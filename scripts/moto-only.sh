#!/usr/bin/env bash
# `make moto`: only the local AWS (moto on 127.0.0.1:4566), provisioned and
# seeded, in the foreground; for `cargo lambda watch --env-file .env.local`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto.sh
if port_in_use 4566; then
  echo "error: port 4566 is already in use — is 'make dev' or 'make moto' running? Stop it (Ctrl-C) first." >&2
  exit 1
fi
mkdir -p .local
start_moto 4566 .local/moto.log
# Ctrl-C is how this stops: a clean exit (the EXIT trap stops moto).
trap 'exit 0' INT TERM
cargo run --quiet --locked -p chatlogger-local -- --env-file .env.local --provision-only
echo "moto (local AWS) is up on http://127.0.0.1:4566; Ctrl-C stops it."
wait "$MOTO_PID"
