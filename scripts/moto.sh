# Sourced by dev.sh and test.sh: start moto on 127.0.0.1:$1, stop it on exit.
start_moto() {
  local port=$1 log=$2
  # scripts/moto_server.py: moto with atomic DynamoDB writes, as on AWS.
  .venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2>/dev/null; wait "$MOTO_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto failed to start; its log ($log):" >&2; cat "$log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "moto did not answer on port $port within 10 s (log: $log)" >&2
  exit 1
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
