#!/usr/bin/env bash
# Builds {{name}}.wasm, a WebAssembly component, from app.py:
#
#   ./build.sh
#
# Needs python3 (3.10 or later) and componentize-py 0.25.1: the one on PATH
# if it is that version, else it installs it from PyPI into .venv/ here
# (python3 -m venv; nothing is installed elsewhere). The component carries
# CPython: expect about 18 MB.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=0.25.1
cd "$here"
# Up to date: no Python source or WIT file is newer than the component.
if [ -f "{{name}}.wasm" ] && [ -z "$(find . \( -name .venv -o -name .test -o -name try \) -prune -o \
    \( -name '*.py' -o -name '*.wit' \) -newer "{{name}}.wasm" -print -quit)" ]; then
    echo "{{name}}.wasm is up to date"
    exit 0
fi
componentize_py=componentize-py
if ! componentize-py --version 2> /dev/null | grep -qx "componentize-py $version"; then
    componentize_py="$here/.venv/bin/componentize-py"
    if ! "$componentize_py" --version 2> /dev/null | grep -qx "componentize-py $version"; then
        command -v python3 > /dev/null || { echo "build.sh: python3 is missing" >&2; exit 1; }
        echo "build.sh: installing componentize-py $version from PyPI into $here/.venv" >&2
        python3 -m venv "$here/.venv" || {
            echo "build.sh: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2
            exit 1
        }
        "$here/.venv/bin/python" -m pip install -q --disable-pip-version-check "componentize-py==$version"
    fi
fi
start=$(date +%s)
"$componentize_py" -d wit -w {{world}} componentize app -o "{{name}}.wasm.tmp" > /dev/null
mv "{{name}}.wasm.tmp" "{{name}}.wasm"
echo "built $here/{{name}}.wasm ($(( $(wc -c < "{{name}}.wasm") / 1024 )) KB, $(( $(date +%s) - start )) s)"
