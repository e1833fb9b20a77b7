#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up the DynamoDB emulator (moto server, from
# PyPI, in .venv-test), starts it on a free loopback port, runs every check and test, stops it,
# then the serverless packaging checks (infra/check-sam.sh --quick: SAM validation, cfn-lint,
# an arm64 build of every function without LTO; OW_SKIP_LAMBDA_BUILD=1 skips that build).
# Installs Debian's chromium and chromium-driver with apt-get when missing (the browser tests need them).
# Extra arguments go to `cargo test` (e.g. a test-name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-test
LOGS=.test-logs
mkdir -p "$LOGS"

step() { printf '\n==> %s\n' "$*"; }

# One-shot builds gain nothing from incremental state, which costs gigabytes of disk.
export CARGO_INCREMENTAL=0

if [ ! -x "$VENV/bin/moto_server" ]; then
  step "installing the DynamoDB emulator (moto[server]) into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5.1,<6'
fi

# The outgoing-webhook tests (tests/tests/outgoing_webhooks.rs) check our signatures with the
# official `svix` library; OW_REQUIRE_SVIX makes them fail instead of skipping that check.
if ! "$VENV/bin/python" -c 'import svix' >/dev/null 2>&1; then
  step "installing the webhook verification library (svix) into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'svix>=1.40,<2'
fi
export OW_REQUIRE_SVIX=1

# The browser tests (tests/tests/chromium.rs, tests/tests/portal_browser.rs) drive Debian's
# Chromium, the portal's over WebDriver (chromium-driver); OW_REQUIRE_CHROMIUM makes them fail
# instead of skipping when either is missing.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  step "installing chromium and chromium-driver (apt-get)"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get install -y --no-install-recommends chromium chromium-driver \
    || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends chromium chromium-driver; }
fi
export OW_REQUIRE_CHROMIUM=1

step "formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "starting moto on 127.0.0.1:$PORT (log: $LOGS/moto.log)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOGS/moto.log" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$PORT/moto-api/" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$MOTO_PID" 2>/dev/null; then echo "moto failed to start:"; cat "$LOGS/moto.log"; exit 1; fi
  sleep 0.1
done

export OW_TEST_DYNAMODB_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

step "cargo test (workspace)"
cargo test --workspace --locked "$@"

kill "$MOTO_PID" 2>/dev/null || true
if [ "${OW_SKIP_LAMBDA_BUILD:-}" = 1 ]; then
  ./infra/check-sam.sh --no-build
else
  ./infra/check-sam.sh --quick
fi

step "all tests passed"
