#!/usr/bin/env bash
# Lambda budgets per function (design.md): release binary size (arm64, as deployed), time from
# process start to the first answered invocation, and peak RSS over the function's requests
# of the runtime-test scenario, as ratios to the budgets.
#
#   infra/bench-lambda.sh [RUNS]                 this checkout
#   infra/bench-lambda.sh [RUNS] --before REV    REV (built in a temporary git worktree) and this
#                                                checkout, measured in the same run, one table each
#   infra/bench-lambda.sh [RUNS] --before DIR    the same with a checkout that a previous run
#                                                built (DIR/target/lambda-arm64, DIR/target/lambda-host)
#
# Builds the deployable arm64 binaries (infra/check-sam.sh) and the release profile for this
# machine's architecture (arm64 binaries do not run here; same code and profile, minus
# cargo-lambda's panic=abort), starts the emulator (moto) and runs each function cold RUNS times
# (default 5) under the runtime API emulator of tests/src/lambda.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=5
BEFORE=
while [ $# -gt 0 ]; do
  case "$1" in
    --before) BEFORE=${2:?--before needs a git revision}; shift 2 ;;
    *) RUNS=$1; shift ;;
  esac
done
VENV=.venv-sam
LOGS=.test-logs
mkdir -p "$LOGS"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

# Builds the checkout in the current directory: arm64 as deployed (target/lambda-arm64) and the
# same functions for this machine, copied to target/lambda-host (cargo's release directory is
# shared by every checkout that uses this target directory).
build_functions() {
  ./infra/check-sam.sh
  mapfile -t BINS < <(ls target/lambda-arm64)
  local args=()
  for b in "${BINS[@]}"; do args+=(--bin "$b"); done
  printf '\n==> cargo build --release (%s, to run here) in %s: %s\n' "$(uname -m)" "$PWD" "${BINS[*]}"
  cargo build --release --locked "${args[@]}"
  rm -rf target/lambda-host
  mkdir -p target/lambda-host
  for b in "${BINS[@]}"; do cp "$TARGET_DIR/release/$b" target/lambda-host/; done
}

WT=
if [ -n "$BEFORE" ] && [ -d "$BEFORE/target/lambda-host" ]; then
  REV="$(git -C "$BEFORE" rev-parse --short HEAD) (built in $BEFORE)"
  BEFORE_DIR=$(cd "$BEFORE" && pwd)
elif [ -n "$BEFORE" ]; then
  REV=$(git rev-parse --short "$BEFORE")
  WT=$(mktemp -d "${TMPDIR:-/tmp}/ow-bench-before.XXXXXX")
  git worktree add --quiet --detach "$WT" "$REV"
  trap 'git -C "$ROOT" worktree remove --force "$WT" 2>/dev/null || true' EXIT
  # The tools, not rebuilt per worktree.
  for v in .venv-sam .venv-test; do
    if [ -d "$v" ]; then ln -s "$ROOT/$v" "$WT/$v"; fi
  done
  printf '\n==> building %s (before) in %s\n' "$REV" "$WT"
  (cd "$WT" && build_functions)
  BEFORE_DIR=$WT
fi
printf '\n==> building this checkout (after)\n'
build_functions

[ -x .venv-test/bin/moto_server ] || {
  python3 -m venv .venv-test
  .venv-test/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5.1,<6'
}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv-test/bin/moto_server -H 127.0.0.1 -p "$PORT" >"$LOGS/moto-bench.log" 2>&1 &
MOTO_PID=$!
if [ -n "$WT" ]; then
  trap 'kill "$MOTO_PID" 2>/dev/null || true; git -C "$ROOT" worktree remove --force "$WT" 2>/dev/null || true' EXIT
else
  trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
fi
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/moto-api/" >/dev/null 2>&1 && break
  sleep 0.1
done
export OW_TEST_DYNAMODB_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

cargo build --quiet --locked -p ow-e2e --bin bench-lambda
if [ -n "$BEFORE" ]; then
  printf '\n==> before: %s, cold starts against the runtime API emulator (%s runs per function)\n' "$REV" "$RUNS"
  "$TARGET_DIR/debug/bench-lambda" "$BEFORE_DIR/target/lambda-host" "$BEFORE_DIR/target/lambda-arm64" "$RUNS"
fi
printf '\n==> after: %s%s, cold starts against the runtime API emulator (%s runs per function)\n' \
  "$(git rev-parse --short HEAD)" "$(git diff --quiet HEAD || echo ' + uncommitted changes')" "$RUNS"
"$TARGET_DIR/debug/bench-lambda" target/lambda-host target/lambda-arm64 "$RUNS"
