#!/usr/bin/env bash
# Serverless packaging checks, offline: SAM validation, cfn-lint on the expanded template, and
# (unless given --no-build) the release arm64 build of every Lambda function with cargo-lambda,
# as `sam build` would run it. Tools come from PyPI into .venv-sam on first use.
#   infra/check-sam.sh             validate + lint + build
#   infra/check-sam.sh --no-build  validate + lint only (a few seconds)
#   infra/check-sam.sh --quick     validate + lint + an arm64 build without LTO at opt-level 0:
#                                  proves every function compiles and links for arm64 in a
#                                  fraction of the time (the test suite uses it)
# Deploy-profile binaries land in target/lambda-arm64/<bin>/bootstrap (infra/bench-lambda.sh
# reads them); --quick ones in target/lambda-arm64-quick.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-sam
LAMBDA_DIR=target/lambda-arm64
BUILD=1
[ "${1:-}" = "--no-build" ] && BUILD=0
if [ "${1:-}" = "--quick" ]; then
  LAMBDA_DIR=target/lambda-arm64-quick
  export CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
fi

step() { printf '\n==> %s\n' "$*"; }

# SAM's telemetry and update checks stay off: nothing here may reach the internet.
export SAM_CLI_TELEMETRY=0
export __SAM_CLI_APP_DIR="$PWD/$VENV/sam-home"

if [ ! -x "$VENV/bin/sam" ] || [ ! -x "$VENV/bin/cargo-lambda" ]; then
  step "installing aws-sam-cli, cargo-lambda and zig into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    'aws-sam-cli>=1.150,<2' 'cargo-lambda>=1.8,<2' 'ziglang>=0.13,<0.15'
fi
mkdir -p "$__SAM_CLI_APP_DIR"

step "sam validate (SAM schema) and sam validate --lint (cfn-lint)"
"$VENV/bin/sam" validate --region us-east-1 --template template.yaml
"$VENV/bin/sam" validate --lint --template template.yaml

step "cfn-lint on the template expanded by aws-sam-translator"
"$VENV/bin/python" infra/sam_cfn_lint.py template.yaml target/sam/expanded.json

[ "$BUILD" = 1 ] || exit 0

# Every binary of the packages under functions/ (the route-set test checks that the template
# has a function for each).
mapfile -t BINS < <(cargo metadata --no-deps --format-version 1 --locked | "$VENV/bin/python" -c '
import json, os, sys
meta = json.load(sys.stdin)
root = meta["workspace_root"]
for p in meta["packages"]:
    if os.path.relpath(p["manifest_path"], root).startswith("functions" + os.sep):
        for t in p["targets"]:
            if "bin" in t["kind"]:
                print(t["name"])
')
[ "${#BINS[@]}" -gt 0 ] || { echo "no function binaries found under functions/"; exit 1; }

if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  step "adding the aarch64-unknown-linux-gnu Rust target"
  rustup target add aarch64-unknown-linux-gnu
fi

step "cargo lambda build --release --arm64: ${BINS[*]}"
BIN_ARGS=()
for b in "${BINS[@]}"; do BIN_ARGS+=(--bin "$b"); done
start=$(date +%s)
PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/cargo-lambda" lambda build --release --arm64 --locked \
  --lambda-dir "$LAMBDA_DIR" "${BIN_ARGS[@]}"
for b in "${BINS[@]}"; do
  f="$LAMBDA_DIR/$b/bootstrap"
  [ -s "$f" ] || { echo "missing $f"; exit 1; }
  # ELF e_machine 183 is AArch64: what an arm64 function runs.
  machine=$(python3 -c 'import struct,sys; print(struct.unpack_from("<H", open(sys.argv[1],"rb").read(20), 18)[0])' "$f")
  [ "$machine" = 183 ] || { echo "$f is not an arm64 (AArch64) executable (e_machine $machine)"; exit 1; }
  printf "  %-16s %9d bytes, aarch64\n" "$b" "$(stat -c %s "$f")"
done
echo "built in $(( $(date +%s) - start )) s"
