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


# Zoom through SCIM: plugins/zoom.toml is an instance of scim.wasm. A real
# SCIM 2.0 server stands in for Zoom: scim2-server (PyPI), in memory, on
# 127.0.0.1:8099, already holding an account for Grace and a group.
echo
echo "== a SCIM server standing in for Zoom (scim2-server from PyPI, on 127.0.0.1:8099)"
PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check scim2-server==0.8.3
export ZOOM_SCIM_TOKEN="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
python3 -c "from scim2_server.testserver.cli import main; main()" \
    --port 8099 --bearer-token "$ZOOM_SCIM_TOKEN" >/dev/null 2>&1 &
scim_pid=$!
trap 'kill $scim_pid 2>/dev/null' EXIT
python3 - <<'PY'
import json, os, time, urllib.request
base, token = "http://127.0.0.1:8099", os.environ["ZOOM_SCIM_TOKEN"]
def post(path, body):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    return json.load(urllib.request.urlopen(request))
for _ in range(100):
    try:
        urllib.request.urlopen(base + "/ServiceProviderConfig"); break
    except OSError:
        time.sleep(0.1)
grace = post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "grace",
                        "emails": [{"value": "grace@example.com", "primary": True}], "active": True})
post("/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "all-staff",
                 "members": [{"value": grace["id"], "type": "User"}]})
PY
step "sync Zoom into the directory: its accounts, groups and memberships (dry run first)" sync zoom --dry-run
step "sync Zoom for real" sync zoom
step "onboard Alan into Zoom: create the SCIM account, add it to the group" run zoom-onboarding --input '{"user_id": "u-alan"}'
step "offboard Alan from Zoom: out of the group, account deactivated" run zoom-offboarding --input '{"user_id": "u-alan"}'
step "sync again: the directory learns that Alan's Zoom account is now deactivated" sync zoom
