#!/usr/bin/env bash
# Installs the official Bandwidth client libraries that tests/compat drives, unmodified:
#   PyPI bandwidth-numbers-sdk 1.2.0 (own venv: it pins old certifi/idna/chardet)
#   PyPI bandwidth-sdk 23.3.1       (own venv: messaging/media/voice v2, pydantic 2, urllib3 2)
#   PyPI bandwidth-sdk 15.1.0       (own venv: the oldest OpenAPI-generated line, voice callbacks)
#   npm  @bandwidth/numbers 2.0.0, bandwidth-sdk 8.1.4   (tests/compat/package.json)
# Missing node/npm is tolerated here; the compat tests then skip, or fail under CI=true.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-python3}"

venv="$root/.venv-compat-numbers"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import bandwidth_numbers' 2>/dev/null; then
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q 'bandwidth-numbers-sdk==1.2.0'
fi

# The newest 23.x of the OpenAPI-generated v2 SDK (`pip index versions bandwidth-sdk`).
sdk_venv="$root/.venv-compat-sdk"
if [ ! -x "$sdk_venv/bin/python" ] \
  || ! "$sdk_venv/bin/python" -c 'import bandwidth, sys; sys.exit(bandwidth.__version__ != "23.3.1")' 2>/dev/null; then
  "$py" -m venv "$sdk_venv"
  "$sdk_venv/bin/pip" install -q --upgrade pip
  "$sdk_venv/bin/pip" install -q 'bandwidth-sdk==23.3.1'
fi

# The newest 15.x, the first OpenAPI-generator release (pydantic 1): its voice callback models are
# checked against the webhooks too (test_voice_callbacks.py).
sdk15_venv="$root/.venv-compat-sdk15"
if [ ! -x "$sdk15_venv/bin/python" ] \
  || ! "$sdk15_venv/bin/python" -c 'import sys; from importlib.metadata import version; sys.exit(version("bandwidth-sdk") != "15.1.0")' 2>/dev/null; then
  "$py" -m venv "$sdk15_venv"
  "$sdk15_venv/bin/pip" install -q --upgrade pip
  "$sdk15_venv/bin/pip" install -q 'bandwidth-sdk==15.1.0'
fi

if command -v npm >/dev/null 2>&1; then
  if [ ! -d "$here/node_modules/@bandwidth/numbers" ] || [ ! -d "$here/node_modules/bandwidth-sdk" ]; then
    (cd "$here" && npm install --no-audit --no-fund --loglevel=error)
  fi
else
  echo "npm not found: the Node.js compat tests will be skipped (CI installs it)" >&2
fi
