#!/usr/bin/env bash
# The abuse check of issue #9 (a bench-style command, not a test: it is not part of
# infra/test.sh). Builds the server (`server` profile) and, each against a fresh server on a temp
# data dir, prints:
#   1. an idle-connection flood (partial request heads): server sockets and RSS before,
#      during, after one header timeout and after the clients close;
#   2. GET / p50/p99 without and during a flood of concurrent bad logins (default login
#      limits, and limits off so only the hashing pool protects the other routes);
#   3. the unique 5xx answers over a schemathesis run of the upstream OpenAPI document
#      (schemathesis from PyPI into .venv-abuse), with a developer JWT and an API key.
# Settings (environment): OW_ABUSE_FLOOD (connections, default 10000), OW_ABUSE_LOGINS
# (concurrent bad logins, 64), OW_ABUSE_SCHEMATHESIS_SECONDS (60), OW_ABUSE_SKIP_FLOODS=1,
# OW_ABUSE_SKIP_SCHEMATHESIS=1, OW_ABUSE_SKIP_BUILD=1, OW_ABUSE_SERVER (a prebuilt server binary
# to use instead), OW_ABUSE_BENCH (a prebuilt ow-abuse).
set -euo pipefail
cd "$(dirname "$0")/.."

FLOOD=${OW_ABUSE_FLOOD:-10000}
LOGINS=${OW_ABUSE_LOGINS:-64}
ST_SECS=${OW_ABUSE_SCHEMATHESIS_SECONDS:-60}
SPEC=${OW_ABUSE_SPEC:-../shared/spec/upstream/openapi.json}
[ -f "$SPEC" ] || SPEC=/work/shared/spec/upstream/openapi.json
SPEC=$(realpath "$SPEC")
VENV=.venv-abuse
TARGET=${CARGO_TARGET_DIR:-target}

step() { printf '\n==> %s\n' "$*"; }

# The flood needs one descriptor per connection on the client side too.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open-file limit: $(ulimit -n)"

if [ "${OW_ABUSE_SKIP_BUILD:-0}" != 1 ]; then
  step "cargo build --profile server (open-wearables, ow-abuse)"
  cargo build --profile server --locked --bin open-wearables --bin ow-abuse
fi
SERVER=${OW_ABUSE_SERVER:-$TARGET/server/open-wearables}

if [ "${OW_ABUSE_SKIP_FLOODS:-0}" != 1 ]; then
  step "floods"
  "${OW_ABUSE_BENCH:-$TARGET/server/ow-abuse}" --server "$SERVER" --flood "$FLOOD" --logins "$LOGINS"
fi

[ "${OW_ABUSE_SKIP_SCHEMATHESIS:-0}" = 1 ] && exit 0

step "schemathesis (${ST_SECS}s) against the server"
if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
OW_DATA_DIR="$WORK/data" PORT=$PORT ADMIN_EMAIL=abuse@example.com ADMIN_PASSWORD=abuse-password \
  RUST_LOG=error OW_STORE=embedded "$SERVER" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -fsS "$BASE/" >/dev/null 2>&1 && break; sleep 0.1; done
JWT=$(curl -fsS -X POST "$BASE/api/v1/auth/login" \
  -d 'username=abuse%40example.com&password=abuse-password' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
KEY=$(curl -fsS -X POST "$BASE/api/v1/developer/api-keys" -H "Authorization: Bearer $JWT" \
  -H 'content-type: application/json' -d '{"name":"abuse"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
set +e
# From the temp dir, so that schemathesis' own cache (.schemathesis/) stays out of the repo.
ST=$(realpath "$VENV/bin/st")
(cd "$WORK" && SCHEMATHESIS_TELEMETRY=false "$ST" run "$SPEC" --url "$BASE" \
  -H "Authorization: Bearer $JWT" -H "X-Open-Wearables-API-Key: $KEY" \
  --checks not_a_server_error --max-time "$ST_SECS" --request-timeout 30 \
  --report ndjson --report-ndjson-path "$WORK/events.ndjson" --no-color \
  --seed "${OW_ABUSE_SEED:-9}" >"$WORK/st.log" 2>&1)
ST_RC=$?
set -e
grep -E '^_+ .* _+$' "$WORK/st.log" | sed 's/^_* */  failure: /; s/ *_*$//' || true
tail -n 8 "$WORK/st.log"
echo "(schemathesis exit code $ST_RC)"
"$VENV/bin/python" - "$WORK/events.ndjson" <<'EOF'
import json, re, sys
unique = {}
cases = 0
for line in open(sys.argv[1]):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    # Every interaction a scenario recorded: count responses with a 5xx status.
    for rec in re.findall(r'"status_code":\s*(5\d\d)', line):
        cases += 1
    text = line
    for m in re.finditer(r'"method":\s*"([A-Z]+)".{0,400}?"path":\s*"([^"]+)".{0,4000}?"status_code":\s*(5\d\d)', text):
        unique.setdefault((m.group(1), m.group(2), m.group(3)), 0)
        unique[(m.group(1), m.group(2), m.group(3))] += 1
print(f"5xx responses seen: {cases}; unique (method, path, status): {len(unique)}")
for (method, path, status), n in sorted(unique.items()):
    print(f"  {status} {method} {path} (x{n})")
EOF
