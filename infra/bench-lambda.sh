#!/usr/bin/env bash
# Lambda budgets per function (design.md): release binary size (arm64, as deployed), time from
# process start to the first answered invocation, and peak RSS over the function's requests
# of the runtime-test scenario, as ratios to the budgets.
#
# Builds the deployable arm64 binaries (infra/check-sam.sh) and the release profile for this
# machine's architecture (arm64 binaries do not run here; same code and profile, minus
# cargo-lambda's panic=abort), starts the emulator (moto) and runs each function cold RUNS times
# (default 5) under the runtime API emulator of tests/src/lambda.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
VENV=.venv-sam
LOGS=.test-logs
mkdir -p "$LOGS"

./infra/check-sam.sh
mapfile -t BINS < <(ls target/lambda-arm64)
BIN_ARGS=()
for b in "${BINS[@]}"; do BIN_ARGS+=(--bin "$b"); done
printf '\n==> cargo build --release (%s, to run here): %s\n' "$(uname -m)" "${BINS[*]}"
cargo build --release --locked "${BIN_ARGS[@]}"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

[ -x .venv-test/bin/moto_server ] || {
  python3 -m venv .venv-test
  .venv-test/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5.1,<6'
}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv-test/bin/moto_server -H 127.0.0.1 -p "$PORT" >"$LOGS/moto-bench.log" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/moto-api/" >/dev/null 2>&1 && break
  sleep 0.1
done
export OW_TEST_DYNAMODB_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

printf '\n==> cold starts against the runtime API emulator (%s runs per function)\n' "$RUNS"
cargo run --quiet --locked -p ow-e2e --bin bench-lambda -- \
  "$TARGET_DIR/release" target/lambda-arm64 "$RUNS"
