#!/usr/bin/env bash
# Runs every fuzz target in fuzz/fuzz_targets/ briefly over its kept corpus (fuzz/corpus/TARGET):
# each kept input once, then new inputs for FUZZ_SECONDS (default 20) per target. A parser
# change that panics, hangs (10 s an input) or grows past 2 GiB resident on a known input
# fails here; the README (under "Try it") says how to run one long. .ci/run calls it after the
# tests.
#
# libFuzzer's instrumentation flags are unstable rustc options, and this machine has only the
# stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass them, and `--sanitizer none` leaves
# out AddressSanitizer (which needs a nightly standard library; without it libFuzzer has no
# per-allocation limit, only the resident one). The targets are safe Rust.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf 'fuzz/check.sh: %s\n' "$*" >&2; }

if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz 0.13.2"; then
    say "installing cargo-fuzz 0.13.2"
    cargo install --quiet --locked cargo-fuzz --version 0.13.2
fi
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-20}"
cargo fuzz build --sanitizer none
targets="$(cargo fuzz list)"
[ -n "$targets" ] || { say "no fuzz targets found"; exit 1; }

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $targets; do
    mkdir -p "corpus/$target" "$scratch/$target"
    say "$target: $(ls "corpus/$target" | wc -l) kept inputs, then ${seconds} s"
    # New inputs go to the scratch directory: the kept corpus changes only by hand.
    status=0
    cargo fuzz run --sanitizer none "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$scratch/$target.log" 2>&1 || status=$?
    grep -E '^stat::number_of_executed_units' "$scratch/$target.log" >&2 || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$scratch/$target.log" >&2
        say "$target failed: the input is in fuzz/artifacts/$target/"
        exit 1
    fi
done
