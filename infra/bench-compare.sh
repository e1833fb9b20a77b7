#!/usr/bin/env bash
# The HTTP benchmark of this checkout against another revision, in one run:
#   ./infra/bench-compare.sh [REV] [-- ow-bench args]     (REV defaults to HEAD~1)
# Builds REV's `open-wearables` with the local server's profile (`server`; `release` for
# revisions from before that profile existed) in a temporary worktree (its own target
# directory, target/bench-baseline, kept between runs so a second comparison is quick), then runs
# `ow-bench --http-only` with OW_BENCH_BASELINE pointing at it: every HTTP row is measured on
# the baseline first, then on this build, and printed with the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${1:-HEAD~1}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
ROOT=$PWD
SHA=$(git rev-parse --verify "$REV^{commit}")
WT=$(mktemp -d "${TMPDIR:-/tmp}/ow-baseline.XXXXXX")
cleanup() { git -C "$ROOT" worktree remove --force "$WT" >/dev/null 2>&1 || rm -rf "$WT"; }
trap cleanup EXIT
git worktree add --detach --quiet "$WT" "$SHA"
printf '==> building the baseline %s (%s)\n' "$REV" "$(git log -1 --format=%h\ %s "$SHA" | cut -c1-80)"
PROFILE=release
grep -q '^\[profile\.server\]' "$WT/Cargo.toml" && PROFILE=server
(cd "$WT" && CARGO_TARGET_DIR="$ROOT/target/bench-baseline" cargo build --profile "$PROFILE" --locked --quiet --bin open-wearables)
cp "$ROOT/target/bench-baseline/$PROFILE/open-wearables" "$ROOT/target/bench-baseline/open-wearables-$SHA"
printf '==> building this checkout\n'
cargo build --profile server --locked --quiet -p open-wearables -p ow-bench
OW_BENCH_BASELINE="$ROOT/target/bench-baseline/open-wearables-$SHA" \
  cargo run --profile server --locked --quiet -p ow-bench --bin ow-bench -- --http-only "$@"
