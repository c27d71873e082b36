#!/usr/bin/env bash
# The whole test suite: formatting, lints, the dependency-direction check, Rust unit and
# property tests, then the end-to-end tests that drive the real binary with boto3, the aws CLI,
# the SDKs and (for the web UI) Playwright in Debian's Chromium. Installs what it needs on first
# use (a Python venv, Debian's chromium and postgresql packages; the UI's npm packages are installed by
# ui/build.rs); keeps build output in $CARGO_TARGET_DIR (default ~/.cache/fluoro/target) so
# reruns are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fluoro/target}"
export CARGO_TERM_COLOR=never
venv="${FLUORO_VENV:-$HOME/.cache/fluoro/venv}"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "dependency direction: proto has no tokio, collector and query are siblings"
if cargo tree -p fluoro-proto -e normal -i tokio >/dev/null 2>&1; then
  echo "fluoro-proto must not depend on tokio"; exit 1
fi
if cargo tree -p fluoro-collector -e normal -i fluoro-query >/dev/null 2>&1 \
   || cargo tree -p fluoro-query -e normal -i fluoro-collector >/dev/null 2>&1; then
  echo "collector and query must not depend on each other"; exit 1
fi

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build (binary for end-to-end tests)"
cargo build --bin fluoro

# Installs a Debian package (as root, or through sudo) unless `$1` says it is there.
apt_install() {
  local present="$1"; shift
  if eval "$present" >/dev/null 2>&1; then return; fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

step "PostgreSQL for the shared-metastore tests (Debian's package)"
apt_install "ls /usr/lib/postgresql/*/bin/initdb" postgresql
ls -d /usr/lib/postgresql/*/bin

step "cargo test (unit, property and golden tests)"
cargo test --workspace

step "python venv with boto3, the aws CLI, the SDKs and pytest"
if [ ! -x "$venv/bin/pip" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
fi
# Reinstall whenever the requirements change (the copy in the venv records what it holds).
if ! cmp -s tests/e2e/requirements.txt "$venv/requirements.txt"; then
  "$venv/bin/pip" install --quiet -r tests/e2e/requirements.txt
  cp tests/e2e/requirements.txt "$venv/requirements.txt"
fi

step "Chromium for the web UI tests (Debian's package)"
apt_install "command -v chromium" chromium
chromium --version

step "end-to-end tests"
export FLUORO_BIN="$CARGO_TARGET_DIR/debug/fluoro"
export PATH="$venv/bin:$PATH"
"$venv/bin/pytest" -q tests/e2e "$@"
