#!/usr/bin/env bash
# Builds {{name}} and tries it through keystep, as a user would: checks it
# against the plugin contract, imports directory.yaml into a scratch store
# and calls it with four inputs, checking each answer.
#
#   ./test.sh        (keystep on PATH, or KEYSTEP=/path/to/keystep)
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
"$here/build.sh"
work="$here/.test"
rm -rf "$work/run"
mkdir -p "$work/run/plugins"
cp "$here/{{name}}.wasm" "$here/{{name}}.toml" "$work/run/plugins/"
printf '[plugins]\ncache = "%s"\n' "${KEYSTEP_TEST_CACHE:-$work/cache}" > "$work/run/keystep.toml"
cd "$work/run"
"$keystep" plugins check plugins/{{name}}.wasm
"$keystep" directory import "$here/directory.yaml" > /dev/null

failed=0
# expect INPUT TEXT: `keystep call {{name}} --input INPUT` answers TEXT.
expect() {
    local out
    out=$("$keystep" call {{name}} --log-level off --input "$1" 2>&1) || true
    if grep -qF -- "$2" <<< "$out"; then
        echo "ok    $1: $2"
    else
        printf 'FAIL  %s: expected %s in\n%s\n' "$1" "$2" "$out"
        failed=1
    fi
}
expect '{"user_id": "u-ada", "entitlement": "github:admin"}' '"decision": "review"'
expect '{"user_id": "u-ada", "entitlement": "github:member"}' '"u-ada already holds github:member"'
expect '{"user_id": "u-linus", "entitlement": "github:wiki"}' '"decision": "deny"'
expect '{"user_id": "u-nobody", "entitlement": "github:wiki"}' 'not-found: no user u-nobody'
[ "$failed" = 0 ] && echo "test.sh: {{name}} works"
exit "$failed"
