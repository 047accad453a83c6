#!/usr/bin/env bash
# Runs every test of the project: Rust unit, simulation, integration and golden-vector tests,
# then the web client's node tests (protocol, client logic, and Chromium against the real
# server). Installs what a fresh machine lacks: Debian's chromium and the npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Debian's chromium"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium
fi

echo "== npm ci (web-client)"
(cd web-client && npm ci --no-audit --no-fund)

echo "== cargo build"
cargo build --locked --workspace --all-targets

echo "== Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --workspace --no-fail-fast --config-file tests/nextest.toml
else
  cargo test --locked --workspace --no-fail-fast
fi

echo "== web client tests (node --test)"
(cd web-client && SERVER_BIN="$PWD/../target/debug/server" npm test)
