#!/usr/bin/env bash
# Run every benchmark (benchmarks/*.py, helpers named _*.py excepted) in turn with its default arguments,
# then gather the markdown each one wrote under benchmarks/out/<name>/ into benchmarks/out/RESULTS.md,
# one `## <name>` section per script with the exact command, the date and the exit status.
#
#   benchmarks/run_all.sh                      # all of them (several hours on 2 cores: see benchmarks/README.md)
#   benchmarks/run_all.sh genotypes scaling    # only these, in this order
#
# benchmarks/RESULTS.md (checked in, with commentary) is not overwritten: copy the sections you re-measured
# from benchmarks/out/RESULTS.md into it. A failing benchmark is reported and the others still run; the
# script exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=benchmarks/out
mkdir -p "$OUT"

if [ $# -gt 0 ]; then
  names=("$@")
else
  # Cheap ones first; the pipeline-wide ones last.
  names=()
  for f in benchmarks/[!_]*.py; do
    n=$(basename "$f" .py)
    case $n in scaling|demo_walltime|genome_scale|pipeline_1kg) ;; *) names+=("$n") ;; esac
  done
  names+=(scaling demo_walltime genome_scale pipeline_1kg)
fi

results=$OUT/RESULTS.md
echo "# popcen benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -n))" > "$results"
failed=()
for n in "${names[@]}"; do
  script=benchmarks/$n.py
  if [ ! -f "$script" ]; then echo "no such benchmark: $script" >&2; failed+=("$n"); continue; fi
  mkdir -p "$OUT/$n"
  marker=$(mktemp)
  echo "=== $n: $PY $script" >&2
  start=$(date +%s)
  $PY "$script" > "$OUT/$n/run_all.stdout" 2> "$OUT/$n/run_all.stderr"
  rc=$?
  secs=$(( $(date +%s) - start ))
  {
    echo
    echo "## $n"
    echo
    echo "Command: \`$PY $script\` (exit status $rc, ${secs} s)"
    echo
    # The markdown the script wrote during this run (newest .md under its out folder), else its stdout.
    md=$(find "$OUT/$n" -maxdepth 1 -name '*.md' -newer "$marker" -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
    if [ -n "$md" ]; then cat "$md"; else cat "$OUT/$n/run_all.stdout"; fi
    if [ $rc -ne 0 ]; then echo; echo '```'; tail -20 "$OUT/$n/run_all.stderr"; echo '```'; fi
  } >> "$results"
  rm -f "$marker"
  [ $rc -eq 0 ] || failed+=("$n")
done
echo "wrote $results" >&2
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}" >&2; exit 1; fi
