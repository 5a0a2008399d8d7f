#!/usr/bin/env bash
# Installs what webptq's build and tests need. Idempotent, and quick when all is present; each
# step prints one line.
#
#   bash scripts/setup.sh           # everything `npm test` needs
#   bash scripts/setup.sh --start   # only what `npm start` needs: wasm toolchain + npm packages
#                                   # (WEBPTQ_SETUP=start does the same)
#
# Steps: rustup wasm32 target; wasm-bindgen-cli at the exact version Cargo.lock pins; npm
# packages (npm ci) when package-lock.json changed; then, for tests only: Debian's Chromium and
# espeak-ng, the Python venv (scripts/setup-python.sh), the fixture cache (scripts/fixtures.py), the zoo's
# fast subset (scripts/zoo_fetch.py --fast) and the hand-made bad models
# (tests/fixtures/make_bad_models.py).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${WEBPTQ_SETUP:-full}
for arg in "$@"; do
  case $arg in
    --start) mode=start ;;
    --full) mode=full ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown argument '$arg' (use --start or --full)" >&2; exit 2 ;;
  esac
done

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }
log_dir=.cache/setup-logs
# Runs a noisy command with its output in a log file; shows the log's tail if it fails.
quiet() {
  local name=$1; shift
  mkdir -p "$log_dir"
  if ! "$@" >"$log_dir/$name.log" 2>&1; then
    tail -n 30 "$log_dir/$name.log" >&2
    die "$name failed (full log: $log_dir/$name.log)"
  fi
}

# 1. Rust's wasm32 target.
command -v rustup >/dev/null || die "rustup is not installed (https://rustup.rs); webptq's core is Rust"
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rust target wasm32-unknown-unknown present"
else
  quiet rustup-target rustup target add wasm32-unknown-unknown
  say "rust target wasm32-unknown-unknown added"
fi

# 2. wasm-bindgen-cli, exactly the version of the wasm-bindgen crate in Cargo.lock (the two must
# match or the generated glue refuses the module).
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$want" ] || die "cannot find the wasm-bindgen version in Cargo.lock"
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" = "$want" ]; then
  say "wasm-bindgen-cli $want present"
else
  say "installing wasm-bindgen-cli $want${have:+ (found $have)}, a few minutes on a new machine..."
  quiet wasm-bindgen-cli cargo install wasm-bindgen-cli --version "$want" --force
  hash -r
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  [ "$have" = "$want" ] || die "wasm-bindgen --version says '$have' after installing $want (is ~/.cargo/bin on PATH?)"
  say "wasm-bindgen-cli $want installed"
fi

# 3. npm packages, reinstalled when package-lock.json changed since the last install.
command -v npm >/dev/null || die "npm is not installed (Node.js 20 or newer is needed)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || die "Node.js $(node --version) is too old; webptq needs Node.js 20 or newer"
lock_hash=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
stamp=node_modules/.webptq-installed
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then
  say "npm packages up to date"
else
  quiet npm-ci npm ci --no-audit --no-fund
  echo "$lock_hash" > "$stamp"
  say "npm packages installed ($(ls node_modules | wc -l) top-level)"
fi

if [ "$mode" = start ]; then
  exit 0
fi

# 4. Chromium for the browser tests: Debian's package (Playwright's own browser download cannot
# work offline; playwright-core drives /usr/bin/chromium).
if [ -x /usr/bin/chromium ]; then
  say "chromium present ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
else
  command -v apt-get >/dev/null || die "/usr/bin/chromium is missing and there is no apt-get: install Chromium by hand"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  say "installing chromium with apt-get..."
  quiet apt-update $sudo apt-get update
  quiet apt-chromium $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
  [ -x /usr/bin/chromium ] || die "apt-get installed chromium but /usr/bin/chromium is missing"
  say "chromium installed ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
fi

# 4b. espeak-ng (Debian's package): the zoo's audio inputs are speech it synthesizes
# (scripts/zoo_fetch.py), and the fast subset of `npm test` includes an audio model.
if command -v espeak-ng >/dev/null; then
  say "espeak-ng present"
else
  command -v apt-get >/dev/null || die "espeak-ng is missing and there is no apt-get: install espeak-ng by hand"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  quiet apt-update $sudo apt-get update
  quiet apt-espeak $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends espeak-ng
  command -v espeak-ng >/dev/null || die "apt-get installed espeak-ng but it is not on PATH"
  say "espeak-ng installed"
fi

# 5. The Python venv and 6. the fixture cache (the scripts print their own lines).
[ -f scripts/setup-python.sh ] || die "scripts/setup-python.sh is missing"
bash scripts/setup-python.sh
[ -f scripts/fixtures.py ] || die "scripts/fixtures.py is missing"
.venv/bin/python scripts/fixtures.py

# 6b. The zoo's fast subset (tests/js/zoo.test.mjs); `npm run zoo` fetches the rest itself.
.venv/bin/python scripts/zoo_fetch.py --fast

# 7. Hand-made broken models for the error-path tests.
.venv/bin/python tests/fixtures/make_bad_models.py
# 8. Old and new opset forms of ops whose signature changed, with onnxruntime's outputs.
.venv/bin/python tests/fixtures/make_opset_cases.py
# 9. Old-opset models (7-12) for the opset upgrade pass, with onnxruntime's outputs.
.venv/bin/python tests/fixtures/make_opset_upgrade.py
# 10. Small models in the shapes outside exports take (dim_params, fixed batch, Constant weights).
.venv/bin/python tests/fixtures/make_shape_models.py
# 11. LSTM / GRU / RNN cases and a CRNN-style model, with onnxruntime's outputs.
.venv/bin/python tests/fixtures/make_recurrent_cases.py
