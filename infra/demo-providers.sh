#!/usr/bin/env bash
# The provider demo: starts the local server with a fake of every provider cloud, then plays
# what a backend and a browser do: create a user, get each provider's authorization URL, give
# consent at the fake, land on our callback, wait for the backfill, read the data back; then
# asks each webhook-capable fake to push new data. Needs curl and python3; no AWS, no internet.
#
#   ./infra/demo-providers.sh              # every provider
#   ./infra/demo-providers.sh oura polar   # some of them
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8000}"
API="http://127.0.0.1:${PORT}"
FAKES_PORT="${OW_DEMO_FAKES_PORT:-9100}"
ALL=(garmin google polar suunto whoop strava oura fitbit ultrahuman sensorbio)
if [ "$#" -gt 0 ]; then PROVIDERS=("$@"); else PROVIDERS=("${ALL[@]}"); fi

json() { python3 -c "import sys, json; d = json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

BIN="${OW_BIN:-./target/server/open-wearables}"
if [ -z "${OW_BIN:-}" ]; then
  echo "==> building the local server"
  cargo build --profile server -q -p open-wearables
fi
DATA="$(mktemp -d)"
LOG="$DATA/server.log"
OW_DATA_DIR="$DATA" PORT="$PORT" OW_DEMO_FAKES_PORT="$FAKES_PORT" \
  ADMIN_EMAIL=demo@example.com ADMIN_PASSWORD=demo-password-123 \
  "$BIN" --demo-fakes >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do curl -fs "$API/" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "$API/" >/dev/null || { echo "the server did not start:"; cat "$LOG"; exit 1; }
echo "==> server on $API, fakes from port $FAKES_PORT (log: $LOG)"

JWT=$(curl -fs -X POST "$API/api/v1/auth/login" -d username=demo@example.com -d password=demo-password-123 | json 'd["access_token"]')
KEY=$(curl -fs -X POST "$API/api/v1/developer/api-keys" -H "Authorization: Bearer $JWT" \
  -H 'content-type: application/json' -d '{"name":"demo"}' | json 'd["id"]')
H=(-H "X-Open-Wearables-API-Key: $KEY")
USER_ID=$(curl -fs -X POST "$API/api/v1/users" "${H[@]}" -H 'content-type: application/json' \
  -d '{"first_name":"Demo"}' | json 'd["id"]')
echo "==> user $USER_ID"

FROM=$(date -u -d '10 days ago' +%Y-%m-%d)
TO=$(date -u -d 'tomorrow' +%Y-%m-%d)
# Items of a listing that came from provider $2.
count() { curl -fs "${H[@]}" "$API/api/v1/users/$USER_ID/$1" | json "sum(1 for x in d['data'] if x['source']['provider'] == '$2')"; }

printf '\n%-11s %-9s %-22s %8s %6s\n' provider status provider_user_id workouts sleeps
for p in "${PROVIDERS[@]}"; do
  AUTH_URL=$(curl -fs "${H[@]}" "$API/api/v1/oauth/$p/authorize?user_id=$USER_ID" | json 'd["authorization_url"]')
  # The browser: the fake's consent page redirects to our callback, which redirects to success.
  CALLBACK=$(curl -s -o /dev/null -w '%{redirect_url}' "$AUTH_URL")
  curl -s -o /dev/null "$CALLBACK"
  STATUS=""
  for _ in $(seq 1 50); do
    CONN=$(curl -fs "${H[@]}" "$API/api/v1/users/$USER_ID/connections")
    STATUS=$(echo "$CONN" | json "next((c['status'] + ('' if c['last_synced_at'] or c['provider'] == 'garmin' else '…')) for c in d if c['provider'] == '$p')" 2>/dev/null || true)
    [[ "$STATUS" == "active" || "$STATUS" == "revoked" ]] && break
    sleep 0.2
  done
  PUID=$(echo "$CONN" | json "next(c['provider_user_id'] for c in d if c['provider'] == '$p')")
  printf '%-11s %-9s %-22s %8s %6s\n' "$p" "$STATUS" "$PUID" \
    "$(count "events/workouts?start_date=$FROM&end_date=$TO&limit=100" "$p")" \
    "$(count "events/sleep?start_date=$FROM&end_date=$TO&limit=100" "$p")"
done

echo
echo "==> webhooks: each fake adds new data and notifies us"
i=0
for p in "${ALL[@]}"; do
  FAKE="http://127.0.0.1:$((FAKES_PORT + i))"; i=$((i + 1))
  [[ " ${PROVIDERS[*]} " == *" $p "* ]] || continue
  KINDS=$(curl -fs "$FAKE/_fake/state" | json '" ".join(d["webhooks"])')
  # The URL the provider must call (Strava and Garmin sign nothing: it carries our URL secret).
  TARGET="$API"
  if [[ "$p" == strava || "$p" == garmin ]]; then
    TARGET=$(curl -fs -H "Authorization: Bearer $JWT" "$API/api/v1/providers/$p/webhooks/url" | json 'd["webhook_url"]')
  fi
  for kind in $KINDS; do
    RESULT=$(curl -s -X POST -G "$FAKE/_fake/webhook" --data-urlencode "target=$TARGET" \
      --data-urlencode "kind=$kind" | json 'd.get("api_status", d)')
    echo "$p: '$kind' webhook answered $RESULT"
    break
  done
done
sleep 1
echo
printf '%-11s %8s\n' provider workouts
for p in "${PROVIDERS[@]}"; do
  printf '%-11s %8s\n' "$p" "$(count "events/workouts?start_date=$FROM&end_date=$TO&limit=100" "$p")"
done
echo
echo "==> sync runs: $API/api/v1/users/$USER_ID/sync/runs (API key header), docs at $API/docs"
