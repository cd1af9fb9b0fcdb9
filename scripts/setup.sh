#!/usr/bin/env bash
# One-command set-up on a fresh machine: npm dependencies, build, and — when no WebGPU adapter can be
# opened — a software Vulkan driver (Mesa lavapipe) from the OS packages. Safe to run again.
#
#   npm run setup          (or: bash scripts/setup.sh)
#
# On Debian 12 the stock Mesa (22.x) is too old for Dawn; Mesa 25 comes from bookworm-backports.
# On Ubuntu >= 23.04 and Debian >= 13 the stock mesa-vulkan-drivers is new enough.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

say "installing npm dependencies (npm ci: exactly the versions in package-lock.json)"
# No fallback to `npm install`: that would re-resolve versions and rewrite the lock, so a fresh install
# would run code the project never tested. A lock out of step with package.json is an error to fix
# (run `npm install` once, review and commit package-lock.json).
if ! npm ci --no-audit --no-fund; then
  say "npm ci failed: if it says package.json and package-lock.json are out of sync, run 'npm install' and commit the updated lock"
  exit 1
fi

say "building"
npm run --silent build

probe() { node bin/ponder.js info >/dev/null 2>&1; }

# A software adapter (lavapipe) compiles each shader with LLVM the first time it runs, seconds each
# for the large ones; Mesa then keeps the result on disk (~/.cache/mesa_shader_cache_db). Without this
# step the first answer after set-up waits ~25 s. Answering a few prompts compiles what chat and
# generate run: the prefill's matmul comes in row-block sizes by prompt length (up to 32, 64, more
# tokens), greedy answers draft with the MTP module, and chat samples by default. Best effort: a
# failure here costs only that wait.
warm_shaders() {
  node bin/ponder.js info --json 2>/dev/null | grep -q '"software":true' || return 0
  say "compiling the bundled model's shaders for the software driver (once: Mesa caches them)"
  local p
  for p in "hi" "What is 2 + 3?" "What is 123 + 456? Please show the columns, the carry digits and the sum."; do
    node bin/ponder.js generate --prompt "$p" --temperature 0 >/dev/null 2>&1 || { say "shader warm-up failed: the first answers will compile them"; return 0; }
  done
  node bin/ponder.js generate --prompt "hi" --temperature 0.7 >/dev/null 2>&1 || true
}

# tmux drives the chat app's end-to-end test in a real pseudo-terminal (the test skips without it).
if ! command -v tmux >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  say "installing tmux (for the chat end-to-end test)"
  (apt-get install -y -q tmux >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q tmux >/dev/null 2>&1; }) || say "could not install tmux; the chat end-to-end test will be skipped"
fi

if probe; then
  say "WebGPU adapter found:"
  node bin/ponder.js info | sed -n '2,7p' | sed 's/^/  /'
  warm_shaders
  exit 0
fi

say "no WebGPU adapter; installing Mesa's software Vulkan driver (lavapipe)"
if ! command -v apt-get >/dev/null 2>&1; then
  say "this is not a Debian/Ubuntu machine: install a Vulkan driver (GPU vendor driver, or Mesa lavapipe >= 23) and run again"
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else say "need root (or sudo) to install packages"; exit 1; fi
fi
. /etc/os-release
APT_OPTS=()
if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding bookworm-backports (Mesa 25)"
    echo 'deb http://deb.debian.org/debian bookworm-backports main' | $SUDO tee /etc/apt/sources.list.d/ponder-backports.list >/dev/null
  fi
  APT_OPTS=(-t bookworm-backports)
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${APT_OPTS[@]}" mesa-vulkan-drivers libvulkan1

if probe; then
  say "WebGPU adapter found:"
  node bin/ponder.js info | sed -n '2,7p' | sed 's/^/  /'
  warm_shaders
else
  say "still no adapter after installing lavapipe; details:"
  node bin/ponder.js info || true
  exit 1
fi
