#!/usr/bin/env bash
# Runs tether's fuzz targets with cargo-fuzz (libFuzzer) on the stable toolchain.
#
#   fuzz/run.sh [TARGET|all] [SECONDS]    fuzz each target for SECONDS (default 60)
#   fuzz/run.sh TARGET FILE               run one input again (a reproducer)
#
# Targets: mappings, hubspot, gorgias, webhook (docs/fuzzing.md says what each checks).
# Exits 1 when a target crashed, after printing where its reproducer is. Installs
# cargo-fuzz when missing. New inputs found go to fuzz/target/corpus/TARGET (not committed);
# the committed seeds in fuzz/corpus/TARGET are only read.
#
# Environment: FUZZ_SANITIZER (default `none`; `address` works too, slower), FUZZ_ARGS (extra
# libFuzzer flags, e.g. "-jobs=1 -workers=1" or "-seed=1").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
all=(mappings hubspot gorgias webhook)
target="${1:-all}"
arg2="${2:-60}"
sanitizer="${FUZZ_SANITIZER:-none}"

# cargo-fuzz passes -Z flags to rustc; RUSTC_BOOTSTRAP lets the stable compiler take them.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing; installing it (a few minutes)..." >&2
    cargo install cargo-fuzz --locked
fi

if [[ "$target" == all ]]; then
    targets=("${all[@]}")
elif [[ " ${all[*]} " == *" $target "* ]]; then
    targets=("$target")
else
    echo "unknown target '$target'; expected one of: all ${all[*]}" >&2
    exit 2
fi

cd "$root"
# -a: debug assertions, so integer overflow panics as it does in `cargo test`;
# 16 codegen units: a much faster build of the whole dependency graph, barely slower runs.
build=(--fuzz-dir "$here" --sanitizer "$sanitizer" -a --codegen-units 16)

if [[ -f "$arg2" ]]; then
    [[ ${#targets[@]} -eq 1 ]] || { echo "name one target to reproduce with" >&2; exit 2; }
    exec cargo fuzz run "${build[@]}" "${targets[0]}" "$arg2"
fi
if ! [[ "$arg2" =~ ^[0-9]+$ ]] || [[ "$arg2" -eq 0 ]]; then
    echo "SECONDS must be a positive whole number (got '$arg2')" >&2
    exit 2
fi

echo "== building ${targets[*]}" >&2
if [[ ${#targets[@]} -eq 1 ]]; then
    cargo fuzz build "${build[@]}" "${targets[0]}"
else
    cargo fuzz build "${build[@]}"
fi

failed=()
for t in "${targets[@]}"; do
    work="$here/target/corpus/$t"
    mkdir -p "$work" "$here/artifacts/$t"
    echo "== fuzzing $t for ${arg2}s (new inputs in ${work#"$root"/})" >&2
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    if cargo fuzz run "${build[@]}" "$t" "$work" "$here/corpus/$t" -- \
        -max_total_time="$arg2" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -dict="$here/json.dict" -print_final_stats=1 ${FUZZ_ARGS:-}; then
        echo "== $t: no crash in ${arg2}s" >&2
    else
        failed+=("$t")
        echo "== $t FOUND A CRASH; reproducer(s):" >&2
        ls -t "$here/artifacts/$t"/* 2>/dev/null | head -5 | sed "s|^$root/|   |" >&2 || true
        echo "   reproduce with: fuzz/run.sh $t fuzz/artifacts/$t/<file>" >&2
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "crashed: ${failed[*]}" >&2
    exit 1
fi
echo "all fuzzed targets ran ${arg2}s each without a crash" >&2
