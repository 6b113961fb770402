#!/usr/bin/env bash
# Builds {{name}} and tries it through keystep against mock_app.py, as a
# user would: checks it against the plugin contract, runs both actions with
# `keystep invoke`, then an automation that creates an account for a
# directory user and suspends it.
#
#   ./test.sh        (keystep on PATH, or KEYSTEP=/path/to/keystep; python3)
#
# The scratch store is .test/run/, made afresh each time; .test/cache/ keeps
# the compiled component (KEYSTEP_TEST_CACHE puts it elsewhere).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
keystep=${KEYSTEP:-keystep}
command -v "$keystep" > /dev/null || {
    echo "test.sh: keystep is not on PATH (or set KEYSTEP=/path/to/keystep)" >&2
    exit 1
}
command -v python3 > /dev/null || { echo "test.sh: python3 is missing (it runs mock_app.py)" >&2; exit 1; }
"$here/build.sh"
work="$here/.test"
rm -rf "$work/run"
mkdir -p "$work/run/plugins" "$work/run/automations"
cd "$work/run"

# The app: mock_app.py on a free port.
python3 "$here/mock_app.py" --port-file port > /dev/null &
mock=$!
trap 'kill "$mock" 2> /dev/null || true' EXIT
for _ in $(seq 100); do [ -f port ] && break; sleep 0.1; done
[ -f port ] || { echo "test.sh: mock_app.py did not start" >&2; exit 1; }
url="http://127.0.0.1:$(cat port)"

cp "$here/{{name}}.wasm" plugins/
cat > plugins/{{name}}.toml << TOML
allow_hosts = ["$url"]
secrets = { api_token = "env:{{NAME}}_TOKEN" }
[config]
base_url = "$url"
TOML
export {{NAME}}_TOKEN=test-token
printf '[plugins]\ncache = "%s"\n' "${KEYSTEP_TEST_CACHE:-$work/cache}" > keystep.toml
"$keystep" plugins check plugins/{{name}}.wasm

cat > directory.yaml << 'YAML'
users:
  - { id: u-alan, display_name: Alan Turing, email: alan@example.com, username: alan }
apps:
  - { id: the-app, name: The app, owner: u-alan, connector: {{name}} }
YAML
"$keystep" directory import directory.yaml > /dev/null
cat > automations/onboard.yaml << 'YAML'
name: onboard
trigger: manual
steps:
  - id: account
    create_account:
      connector: {{name}}
      method: custom
      user: subject
      fields: { login: alan, email: alan@example.com, name: Alan Turing }
  - id: suspend
    perform_connector_action:
      connector: {{name}}
      action: suspend-account
      user: subject                  # adds the account's id as account_id
      args: { reason: "test.sh was here" }
YAML

failed=0
# expect TEXT COMMAND...: the command's output (and errors) contain TEXT.
expect() {
    local text=$1 out
    shift
    out=$("$keystep" "$@" 2>&1) || true
    if grep -qF -- "$text" <<< "$out"; then
        echo "ok    $*: $text"
    else
        printf 'FAIL  %s: expected %s in\n%s\n' "$*" "$text" "$out"
        failed=1
    fi
}
expect '"login": "ada"' invoke {{name}} get-account --args '{"account_id": "1"}'
expect 'not-found' invoke {{name}} get-account --args '{"account_id": "42"}'
expect '"status": "suspended"' invoke {{name}} suspend-account --args '{"account_id": "1", "reason": "a test"}'
expect '"suspended_reason": "test.sh was here"' --json run onboard --input '{"user_id": "u-alan"}'
[ "$failed" = 0 ] && echo "test.sh: {{name}} works"
exit "$failed"
