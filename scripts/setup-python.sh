#!/usr/bin/env bash
# Create .venv/ with the pinned Python packages of scripts/requirements.txt.
# Idempotent: a stamp file holds the hash of requirements.txt and of the
# interpreter version; when it matches, nothing is done.
#
#   bash scripts/setup-python.sh        # then use .venv/bin/python
#
# WEBPTQ_VENV overrides the venv location (default: .venv in the repo root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WEBPTQ_VENV:-$ROOT/.venv}"
REQ="$ROOT/scripts/requirements.txt"
STAMP="$VENV/.webptq-requirements.sha256"
PY="${PYTHON:-python3}"

want="$( { sha256sum < "$REQ"; "$PY" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] \
   && "$VENV/bin/python" -c 'import numpy, onnx, onnxruntime, tokenizers, PIL' 2>/dev/null; then
  echo "setup-python: $VENV is up to date"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup-python: creating $VENV"
  "$PY" -m venv "$VENV"
fi

echo "setup-python: installing scripts/requirements.txt"
rm -f "$STAMP"
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet --only-binary=:all: -r "$REQ"
"$VENV/bin/python" -m pip check
echo "$want" > "$STAMP"
echo "setup-python: done ($("$VENV/bin/python" -c 'import onnx, onnxruntime, numpy; print(f"onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}")'))"
