#!/usr/bin/env bash
# API fuzzing, in `make test`: schemathesis (pinned in tools/requirements.txt,
# settings in schemathesis.toml) against a running local stack's
# /openapi.json, as a fresh org's admin and with the org's API key.
# Usage: scripts/fuzz.sh BASE_URL, with the stack's TABLE_NAME and AWS
# environment set (the org is created in its table with chatlogger-admin).
set -euo pipefail
cd "$(dirname "$0")/.."
base=$1
py=.venv/bin/python

admin() { target/debug/chatlogger-admin --json "$@"; }
slug="fuzz-$(date +%s)-$$"
email="admin@$slug.test"
password=$($py -c 'import secrets; print(secrets.token_urlsafe(18))')
admin org create --name "Fuzz" --slug "$slug" >/dev/null
echo "$password" | admin user create --org "$slug" --email "$email" --role admin --password-stdin >/dev/null
key=$(admin apikey create --org "$slug" --label fuzz | $py -c 'import json, sys; print(json.load(sys.stdin)["key"])')

# One session per run below, all signed in first: fuzzing /auth/login (last)
# fails sign-ins, which throttles this address for 15 minutes.
declare -A session refresh
for run in main password refresh logout; do
  eval "$($py tools/fuzz_session.py "$base" "$slug" "$email" "$password")"
  session[$run]=$SESSION refresh[$run]=$REFRESH
done

export FUZZ_BASE_URL=$base FUZZ_SLUG=$slug FUZZ_API_KEY=$key
failed=()
fuzz() {
  local name=$1
  shift
  echo "== schemathesis: $name"
  # A hard bound on top of max-examples: a hung run must not hold up make test.
  timeout 300 .venv/bin/schemathesis run "$base/openapi.json" --output-truncate true "$@" || failed+=("$name")
}

# Every route that keeps the session: the API-key routes and the signed-in
# admin's routes (deleting or disabling oneself is refused, so that cannot
# sign the run out either).
FUZZ_SESSION=${session[main]} fuzz "API key and signed-in routes" \
  --exclude-path /auth/login --exclude-path /auth/refresh \
  --exclude-path /auth/logout --exclude-path /users/me/password
# The routes that end or renew a session, each with a session of its own.
FUZZ_SESSION=${session[password]} fuzz "password change (its own session)" --include-path /users/me/password
FUZZ_SESSION=${session[refresh]} fuzz "refresh (its own refresh cookie)" --include-path /auth/refresh \
  --header "Cookie: __Secure-chatlogger_refresh=${refresh[refresh]}"
FUZZ_SESSION=${session[logout]} fuzz "logout (its own session)" --include-path /auth/logout
FUZZ_SESSION=${session[main]} fuzz "sign-in" --include-path /auth/login

if ((${#failed[@]})); then
  printf 'schemathesis failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
