# Sourced by dev.sh, moto-only.sh, test.sh and bench.sh: start moto on
# 127.0.0.1:$1, stop it on exit. moto runs through our launcher,
# tools/moto_server.py (moto_server's flags), which makes DynamoDB
# transactions cost O(items touched) and roll back in place.
start_moto() {
  local port=$1 log=$2
  .venv/bin/python tools/moto_server.py -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2>/dev/null; wait "$MOTO_PID" 2>/dev/null || true' EXIT
  wait_for_port "$port" "$MOTO_PID" moto "$log" 10
}

# wait_for_port PORT PID NAME LOG SECONDS: until something listens on PORT;
# exits with NAME's log if PID dies first or SECONDS pass.
wait_for_port() {
  local port=$1 pid=$2 name=$3 log=$4 seconds=$5
  for _ in $(seq 1 $((seconds * 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name failed to start; its log ($log):" >&2; cat "$log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "$name did not answer on port $port within $seconds s (log: $log)" >&2
  exit 1
}

# A free TCP port on 127.0.0.1.
free_port() {
  .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
