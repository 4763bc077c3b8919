#!/usr/bin/env bash
# The single benchmark report. Builds every benchmark once (release profile, one shared
# target directory), runs them one after another, and prints each figure beside its target
# and whether it is met; the same table, with the machine it ran on, replaces the "Last
# figures" section of docs/BENCHMARKS.md.
#
#   benches/report.sh                 # every benchmark (about 15 minutes once built)
#   benches/report.sh matcher engine  # only these; the others keep their last figures
#
# Figures come from each bench through TETHER_BENCH_FIGURES (benches/support/figure.rs);
# raw logs and figures stay in target/bench-report/. The matcher's labelled data is read
# from $TETHER_DATA_DIR (default ../shared/data/dedup beside the checkout).
# TETHER_BENCH_PROFILE=dev runs them unoptimised (a quick check of the report itself; its
# figures are not the product's).
# Exit status: 0 when every bench ran, 1 when one failed to run; a missed target is
# reported as MISSED, not as a failure of the command.
set -uo pipefail
cd "$(dirname "$0")/.."

ALL=(store hubspot_backfill gorgias_backfill api_economy support engine matcher service_memory)
if [ "$#" -gt 0 ]; then benches=("$@"); else benches=("${ALL[@]}"); fi
for b in "${benches[@]}"; do
  case " ${ALL[*]} " in *" $b "*) ;; *) echo "unknown bench '$b' (one of: ${ALL[*]})" >&2; exit 2 ;; esac
done

profile="${TETHER_BENCH_PROFILE:-bench}"
out=target/bench-report
mkdir -p "$out"
export TETHER_DATA_DIR="${TETHER_DATA_DIR:-$(cd .. && pwd)/shared/data/dedup}"

echo "== building every benchmark once (cargo bench --no-run)"
if ! cargo bench --locked --profile "$profile" --no-run; then
  echo "build failed" >&2
  exit 1
fi

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD -- src benches Cargo.toml Cargo.lock mappings 2>/dev/null || commit="$commit+changes"
failed=0
for b in "${benches[@]}"; do
  echo "== $b"
  # The 1-minute load average before the run: wall-clock figures from a busy machine read worse.
  load="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"
  rm -f "$out/$b.tsv"
  start=$(date +%s)
  TETHER_BENCH_FIGURES="$PWD/$out/$b.tsv" cargo bench --locked --profile "$profile" --bench "$b" 2>&1 | tee "$out/$b.log"
  status=${PIPESTATUS[0]}
  secs=$(( $(date +%s) - start ))
  if [ "$status" != 0 ]; then
    failed=1
    printf '%s\t%s\t%s\t%s\t%s\n' "$b" "the bench itself" "exited with $status (see $out/$b.log)" "runs to the end" "MISSED" >> "$out/$b.tsv"
  elif [ ! -s "$out/$b.tsv" ]; then
    printf '%s\t%s\t%s\t%s\t%s\n' "$b" "the bench itself" "recorded no figure" "its figures" "MISSED" >> "$out/$b.tsv"
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$commit" "$(date -u +%Y-%m-%dT%H:%MZ)" "$secs" "$status" "$load" > "$out/$b.meta"
done

# The machine, as the report states it.
cpu="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
mem="$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo 2>/dev/null)"
table="$out/report.md"
{
  if [ "$profile" != bench ]; then
    echo "**Profile \`$profile\`: not optimised; these figures are not the product's.**"
    echo
  fi
  echo "Machine: $(nproc) cores (${cpu:-unknown CPU}), ${mem:-unknown memory}, $(uname -sr); $(rustc --version)."
  echo
  echo "| bench | figure | measured | target | verdict |"
  echo "|---|---|---|---|---|"
  for b in "${ALL[@]}"; do
    [ -f "$out/$b.tsv" ] || continue
    awk -F'\t' '{ v = ($5 == "met") ? "met" : (($5 == "info") ? "—" : "**MISSED**"); printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, v }' "$out/$b.tsv"
  done
  echo
  echo "| bench | commit | ran at (UTC) | seconds | exit | load before |"
  echo "|---|---|---|---|---|---|"
  for b in "${ALL[@]}"; do
    [ -f "$out/$b.meta" ] || continue
    awk -F'\t' -v b="$b" '{ printf "| %s | %s | %s | %s | %s | %s |\n", b, $1, $2, $3, $4, $5 }' "$out/$b.meta"
  done
  echo
  met=$(cat "$out"/*.tsv 2>/dev/null | awk -F'\t' '$5 == "met"' | wc -l)
  missed=$(cat "$out"/*.tsv 2>/dev/null | awk -F'\t' '$5 == "MISSED"' | wc -l)
  echo "Targets met: $met of $((met + missed))."
} > "$table"

doc=docs/BENCHMARKS.md
if grep -q '<!-- report:begin -->' "$doc" && grep -q '<!-- report:end -->' "$doc"; then
  awk -v table="$table" '
    /<!-- report:begin -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
    /<!-- report:end -->/ { skip = 0 }
    !skip { print }
  ' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
  echo "== wrote the figures into $doc"
else
  echo "warning: $doc has no report markers; the table is only in $table" >&2
fi
echo
cat "$table"
exit "$failed"
