#!/usr/bin/env bash
# The keystep demo: builds keystep, then runs the example automations end to
# end on the embedded defaults (a SQLite store in examples/.keystep/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
echo "== building keystep"
cargo build --quiet -p keystep
keystep="$root/target/debug/keystep"
cd "$root/examples"
rm -rf .keystep
step() { printf '\n== %s\n$ keystep %s\n' "$1" "${*:2}"; "$keystep" "${@:2}"; }

step "import the example company" directory import directory.yaml
step "check every automation before anything runs" validate
step "onboard Alan: grant tasks, then a 30-day wait" run onboarding --input '{"user_id": "u-alan"}'
step "plan Ada's offboarding without changing anything" run offboarding --dry-run --input '{"user_id": "u-ada"}'
step "offboard Ada: disable, revoke, unenroll, hand over, review, wait a week" run offboarding --input '{"user_id": "u-ada"}'
step "the revoke and review tasks it opened" tasks list --subject u-ada
step "the app owner carries out a revoke task" tasks complete 7
step "a week later: due runs resume (the clock is moved ahead for the demo)" runs resume --now "$(date -u -d '+8 days' +%Y-%m-%dT%H:%M:%SZ)"
step "run history" runs list
step "what offboarding did, step by step" runs show 2
step "Ada in the directory now" directory show u-ada
