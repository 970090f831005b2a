# Sourced by load.sh and test.sh, after moto.sh (free_port, wait_for_port): the
# local stack (`chatlogger-local`: every route, the stream aggregator, the export
# worker) on a free port, against the moto that AWS_ENDPOINT_URL names, with
# its own table, bucket and queues; stopped on exit. Sets STACK_URL and
# exports TABLE_NAME (tools that create their own org need it).

# start_local_stack LOG: needs target/debug/chatlogger-local built.
start_local_stack() {
  local log=$1 name port
  name="stack-$(date +%s)-$$"
  port=$(free_port)
  # The settings of .env.local, with this run's own resources; exported too,
  # for the tools that run against the stack.
  local env_file=target/$name.env
  cat >"$env_file" <<SETTINGS
TABLE_NAME=$name
EXPORT_BUCKET=$name-exports
EXPORT_QUEUE_NAME=$name-exports
EXPORT_DLQ_NAME=$name-exports-dlq
DASHBOARD_ORIGINS=http://127.0.0.1:5173
RUST_LOG=${RUST_LOG:-warn}
JWT_SECRET=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')
SETTINGS
  set -a
  source "$env_file"
  set +a
  target/debug/chatlogger-local --env-file "$env_file" --listen "127.0.0.1:$port" >"$log" 2>&1 &
  STACK_PID=$!
  # Stop the stack first, then whatever the EXIT trap did before (moto).
  local previous
  previous=$(trap -p EXIT)
  eval "set -- $previous"
  trap "kill $STACK_PID 2>/dev/null; wait $STACK_PID 2>/dev/null || true; ${3:-}" EXIT
  wait_for_port "$port" "$STACK_PID" chatlogger-local "$log" 30
  STACK_URL="http://127.0.0.1:$port"
}
