#!/usr/bin/env bash
# Runs every test: host, SDK, plugins, end-to-end. First it installs what the tests drive
# besides the Rust toolchain, where it is missing:
#   - the wasm32-wasip2 target the plugins are built for;
#   - Debian packages: a C compiler, perl and make (SQLCipher, aws-lc and the vendored
#     OpenSSL), strace (tests/data.rs watches for network connections), Chromium and its
#     WebDriver (tests/browser.rs), Node.js with npm;
#   - componentize-py 0.25.1, in a virtualenv under target/tools (tests/python.rs);
#   - the JavaScript example's pinned componentize-js (`npm ci`, tests/javascript.rs).
# A tool it cannot install stops it here, naming the tool, rather than failing a test later.
# Arguments go to `cargo test` (`./test.sh --test concurrency`).
set -euo pipefail
cd "$(dirname "$0")"

say() { printf 'test.sh: %s\n' "$*" >&2; }

rustup show active-toolchain >/dev/null
rustup target add wasm32-wasip2 >/dev/null 2>&1 || {
    say "cannot add the wasm32-wasip2 target: run \`rustup target add wasm32-wasip2\`"
    exit 1
}

# Debian packages, installed as root (or through sudo) when missing.
missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v perl >/dev/null 2>&1 || missing+=(perl)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v strace >/dev/null 2>&1 || missing+=(strace)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        say "these Debian packages are missing and there is no root or sudo to install them: ${missing[*]}"
        exit 1
    fi
    say "installing ${missing[*]}"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# componentize-py, at the version it was checked with, in a virtualenv of its own.
venv=target/tools/venv
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py 0.25.1"; then
    say "installing componentize-py 0.25.1 into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet componentize-py==0.25.1
fi
export PATH="$PWD/$venv/bin:$PATH"

# componentize-js, pinned by the example's package-lock.json.
npm ci --prefix examples/big-accounts-js --no-audit --no-fund --silent

# The test build also builds the plugin components (crates/runtime/build.rs) into target/plugins.
exec cargo test --workspace --locked "$@"
