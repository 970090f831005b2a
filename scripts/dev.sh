#!/usr/bin/env bash
# `make dev`: moto on 127.0.0.1:4566 plus every route on 127.0.0.1:3000, in the
# foreground. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto.sh

for port in 4566 3000; do
  if port_in_use "$port"; then
    echo "error: port $port is already in use — is another 'make dev' running? Stop it (Ctrl-C) first." >&2
    exit 1
  fi
done

mkdir -p .local
start_moto 4566 .local/moto.log
# Ctrl-C is how this stops: a clean exit (the EXIT trap stops moto).
trap 'exit 0' INT TERM
echo "moto (local AWS) is up on http://127.0.0.1:4566 (log: .local/moto.log)"
cargo run --quiet --locked -p chatlogger-local -- --env-file .env.local
