#!/usr/bin/env bash
# The keystep demo: builds keystep, then runs the example automations end to
# end on the embedded defaults (a SQLite store in examples/.keystep/), then a
# WebAssembly function plugin on its own and inside an automation.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
echo "== building keystep and the Rust example plugins"
cargo build --quiet -p keystep
bash plugins/build.sh examples/plugins --rust-only
keystep="$root/target/debug/keystep"
cd "$root/examples"
rm -rf .keystep
step() { printf '\n== %s\n$ keystep %s\n' "$1" "${*:2}"; "$keystep" "${@:2}"; }

step "import the example company" directory import directory.yaml
step "check every automation before anything runs" validate
step "onboard Alan: grant tasks, then a 30-day wait" run onboarding --input '{"user_id": "u-alan"}'
step "plan Ada's offboarding without changing anything" run offboarding --dry-run --input '{"user_id": "u-ada"}'
step "offboard Ada: disable, revoke, unenroll, hand over, review, wait a week" run offboarding --input '{"user_id": "u-ada"}'
printf '\n== the email to IT and the Slack post it sent, in the outbox (no [smtp] or [slack] is configured)\n'
for f in .keystep/outbox/*; do printf -- '--- %s\n' "$f"; sed -n '/^Content-Type: text\/html/q;p' "$f"; done
step "the revoke and review tasks it opened" tasks list --subject u-ada
step "the app owner carries out a revoke task" tasks complete 7
step "a week later: due runs resume (the clock is moved ahead for the demo)" runs resume --now "$(date -u -d '+8 days' +%Y-%m-%dT%H:%M:%SZ)"
step "run history" runs list
step "what offboarding did, step by step" runs show 2
step "Ada in the directory now" directory show u-ada
step "the plugins in examples/plugins/ (WebAssembly components)" plugins list
step "call the Rust risk function directly" call risk-rust --input '{"user_id": "u-ken"}'
step "an automation with a call_function step: score Ken's access, review it at 30 or more" run access-risk --input '{"user_id": "u-ken"}'

