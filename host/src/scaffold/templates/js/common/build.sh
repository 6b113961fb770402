#!/usr/bin/env bash
# Builds {{name}}.wasm, a WebAssembly component, from app.js:
#
#   ./build.sh
#
# Needs Node.js 18 or later with npm. It runs `npm ci` (componentize-js
# 0.23.0 and the packages package-lock.json pins, from npm, into
# node_modules/ here) when node_modules is missing or older than the lock.
# The component carries SpiderMonkey: expect about 12 MB.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
for tool in node npm; do
    command -v "$tool" > /dev/null || {
        echo "build.sh: $tool is missing: install Node.js 18 or later (https://nodejs.org)" >&2
        exit 1
    }
done
# Up to date: no source, WIT file or the lock is newer than the component.
if [ -f "{{name}}.wasm" ] && [ -z "$(find . \( -name node_modules -o -name .test -o -name try \) -prune -o \
    \( -name '*.js' -o -name '*.wit' -o -name package-lock.json \) -newer "{{name}}.wasm" -print -quit)" ]; then
    echo "{{name}}.wasm is up to date"
    exit 0
fi
installed=node_modules/.package-lock.json
if [ ! -f "$installed" ] || [ package-lock.json -nt "$installed" ]; then
    echo "build.sh: npm ci (componentize-js 0.23.0 from npm, into node_modules/)" >&2
    npm ci --no-audit --no-fund --loglevel=error > /dev/null
fi
start=$(date +%s)
# -d http -d fetch-event: no wasi:http imports (keystep lends host.http-fetch).
node_modules/.bin/componentize-js --wit wit --world-name {{world}} -d http -d fetch-event \
    -o "{{name}}.wasm.tmp" app.js > /dev/null
mv "{{name}}.wasm.tmp" "{{name}}.wasm"
echo "built $here/{{name}}.wasm ($(( $(wc -c < "{{name}}.wasm") / 1024 )) KB, $(( $(date +%s) - start )) s)"
