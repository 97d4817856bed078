#!/usr/bin/env bash
# The gallery, made by the committed code: run each preset into a scratch
# folder, copy the run into docs/gallery/<preset>/ with its provenance, then
# regenerate README's gallery table. Nothing in docs/gallery/ is edited or
# refitted by hand.
#
#   scripts/gallery.sh                     # every gallery preset (overnight last: 8 hours)
#   scripts/gallery.sh add mul             # some of them
#   scripts/gallery.sh --table             # only the tables (README's gallery, docs/ABLATIONS.md's arms,
#                                          # docs/STATISTICS.md's forecast backtest)
#   scripts/gallery.sh --post [preset ...] # add what a folder copied by an older commit lacks, from its own
#                                          # files: forecast.csv and its charts (`emerge forecast`), the
#                                          # charts as this commit draws them (`emerge plot`, no refit), and
#                                          # report.md (`emerge report`); provenance.txt records each
#
# Environment:
#   EMERGE        the binary (default: cargo build --release into CARGO_TARGET_DIR,
#                 default ~/.cache/emerge/target as in .ci/run, or
#                 ~/.cache/emerge/target-<folder> from a linked worktree; then
#                 a copy of it)
#   GALLERY_RUNS  the scratch runs folder, outside the work tree so that a run
#                 longer than a sitting is resumed by running this again
#                 (default ~/.cache/emerge/gallery-runs)
#   ALLOW_DIRTY=1 run although tracked files differ from HEAD (provenance says so)
#
# A preset that was interrupted resumes exactly where it stopped (the sweep's
# own resume); provenance.txt lists every invocation with its wall time.
# Another thread count or CPU changes float summation order, so a re-run
# agrees in distribution (within the seed bands), not bit for bit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PRESETS_ALL=(add mul sort word modp icl hop code-ablation lr-robust overnight)
RUNS=${GALLERY_RUNS:-$HOME/.cache/emerge/gallery-runs}

die() { echo "gallery.sh: $*" >&2; exit 1; }

# Rewrite the block of FILE between `<!-- NAME: made by scripts/gallery.sh -->`
# and `<!-- /NAME -->` with what SCRIPT prints for docs/gallery (and ARGS).
doc_block() {
  local script=$1 name=$2 file=$3 tmp
  shift 3
  tmp=$(mktemp "$ROOT/$file.XXXXXX")
  python3 "scripts/$script" docs/gallery "$@" >"$tmp.table" || { rm -f "$tmp" "$tmp.table"; die "$script failed"; }
  python3 - "$ROOT/$file" "$tmp.table" "$tmp" "$name" <<'EOF' || { rm -f "$tmp" "$tmp.table"; exit 1; }
import sys
readme, table, out, name = sys.argv[1:]
text = open(readme).read()
start, end = f"<!-- {name}: made by scripts/gallery.sh -->", f"<!-- /{name} -->"
if start not in text or end not in text:
    sys.exit(f"gallery.sh: {readme} has no {start} ... {end} block")
head, rest = text.split(start, 1)
_, tail = rest.split(end, 1)
open(out, "w").write(head + start + "\n" + open(table).read() + end + tail)
EOF
  mv "$tmp" "$file"
  rm -f "$tmp.table"
  echo "gallery.sh: $file $name regenerated"
}

# The tables made from docs/gallery: README's gallery table and
# docs/ABLATIONS.md's arms tables (scripts/gallery_table.py), and
# docs/STATISTICS.md's forecast backtest (scripts/forecast_table.py, from
# each folder's forecast.csv).
table() {
  doc_block gallery_table.py gallery-table README.md
  doc_block gallery_table.py ablations-table docs/ABLATIONS.md --ablations
  doc_block forecast_table.py forecast-table docs/STATISTICS.md
}

if [[ "${1:-}" == "--table" ]]; then
  table
  exit 0
fi
post=""
if [[ "${1:-}" == "--post" ]]; then
  post=1
  shift
fi

presets=("$@")
[[ ${#presets[@]} -gt 0 ]] || presets=("${PRESETS_ALL[@]}")
for p in "${presets[@]}"; do
  [[ " ${PRESETS_ALL[*]} " == *" $p "* ]] || die "unknown gallery preset '$p' (one of: ${PRESETS_ALL[*]})"
done

dirty=""
if [[ -n "$(git status --porcelain --untracked-files=no -- . ':!docs/gallery' ':!README.md' ':!docs/STATISTICS.md' ':!docs/ABLATIONS.md')" ]]; then
  [[ "${ALLOW_DIRTY:-}" == 1 ]] || die "tracked files differ from HEAD: commit first (or ALLOW_DIRTY=1, recorded in provenance)"
  dirty=" (with uncommitted changes)"
fi
commit="$(git rev-parse HEAD)$dirty"

mkdir -p "$RUNS/.bin"
# A linked worktree (say, one at an older commit running a long preset)
# builds into a target folder of its own: cargo names a workspace member's
# artifacts by its path inside the workspace, so two trees sharing a folder
# can each take the other's build of a crate as fresh.
if [[ -z "${CARGO_TARGET_DIR:-}" && "$(git rev-parse --git-dir)" != "$(git rev-parse --git-common-dir)" ]]; then
  export CARGO_TARGET_DIR="$HOME/.cache/emerge/target-$(basename "$ROOT")"
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/emerge/target}"
if [[ -z "${EMERGE:-}" ]]; then
  cargo build --release --quiet
  # A copy per commit: rebuilding the work tree while presets run must not
  # swap the binary under them.
  EMERGE="$RUNS/.bin/emerge-$(git rev-parse --short HEAD)${dirty:+-dirty}"
  # Without its debug info (the same code, a tenth of the size).
  cp "$CARGO_TARGET_DIR/release/emerge" "$EMERGE.tmp"
  strip --strip-debug "$EMERGE.tmp" 2>/dev/null || true
  mv "$EMERGE.tmp" "$EMERGE"
fi
[[ -x "$EMERGE" ]] || die "EMERGE=$EMERGE is not an executable"
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)

# emerge writes a run's charts into plots/; a gallery folder holds them
# beside its CSVs.
flatten_plots() {
  local d=$1
  if [[ -d "$d/plots" ]]; then
    mv "$d"/plots/*.png "$d/" 2>/dev/null || true
    rmdir "$d/plots"
  fi
}

if [[ -n "$post" ]]; then
  for p in "${presets[@]}"; do
    dest="docs/gallery/$p"
    if [[ ! -f "$dest/provenance.txt" ]]; then
      echo "gallery.sh: $dest has no provenance.txt: skipped (run scripts/gallery.sh $p)"
      continue
    fi
    added=()
    # The charts as this commit draws them, from the folder's own fits and
    # scores (nothing is refitted). A chart that needs files a copy lacks
    # (the train log) is skipped and the copied one kept.
    if [[ ! -f "$dest/arms.csv" ]]; then
      before=$(cat "$dest"/*.png | md5sum)
      "$EMERGE" plot --run "$dest" >/dev/null
      flatten_plots "$dest"
      [[ "$(cat "$dest"/*.png | md5sum)" == "$before" ]] || added+=("charts redrawn by \`emerge plot\`")
    fi
    if [[ ! -f "$dest/forecast.csv" && ! -f "$dest/arms.csv" ]]; then
      "$EMERGE" forecast --run "$dest" >/dev/null
      flatten_plots "$dest"
      added+=("forecast.csv and forecast_*.png by \`emerge forecast\` (this folder has no samples.csv: the logprob predictor fits scores.csv's per-size means)")
    fi
    had_report=$([[ -f "$dest/report.md" ]] && echo 1 || true)
    [[ -n "$had_report" ]] && cp "$dest/report.md" "$dest/.report.before"
    "$EMERGE" report --run "$dest" >/dev/null
    if [[ -z "$had_report" ]]; then
      added+=("report.md by \`emerge report\`")
    elif ! cmp -s "$dest/report.md" "$dest/.report.before"; then
      added+=("report.md rewritten by \`emerge report\`")
    fi
    rm -f "$dest/.report.before"
    for a in "${added[@]}"; do
      echo "added $(date -u +%FT%TZ) by scripts/gallery.sh --post at $commit: $a" >>"$dest/provenance.txt"
    done
    # The report quotes provenance.txt: once more, now with the lines above.
    "$EMERGE" report --run "$dest" >/dev/null
    echo "gallery.sh: $dest: ${#added[@]} addition(s) recorded in provenance.txt"
  done
  table
  exit 0
fi

for p in "${presets[@]}"; do
  run="$RUNS/$p"
  log="$RUNS/$p.invocations"
  current="$RUNS/$p.current"
  echo "gallery.sh: $p -> $run"
  if [[ -f "$current" ]]; then
    # An invocation that was killed (the sitting ended): its wall time runs
    # from its start to the last file the sweep wrote.
    read -r c_start c_t0 c_load c_commit <"$current"
    last=$(find "$run" -type f -printf '%T@\n' 2>/dev/null | sort -n | tail -1)
    last=${last%.*}
    echo "$c_start $(( ${last:-$c_t0} - c_t0 )) exit=killed load=$c_load..? commit=$c_commit" >>"$log"
    rm -f "$current"
  fi
  start=$(date -u +%FT%TZ); t0=$(date +%s); load0=$(cut -d' ' -f1 /proc/loadavg)
  echo "$start $t0 $load0 $commit" >"$current"
  status=0
  "$EMERGE" sweep --preset "$p" --runs-dir "$RUNS" || status=$?
  t1=$(date +%s); load1=$(cut -d' ' -f1 /proc/loadavg)
  echo "$start $((t1 - t0)) exit=$status load=$load0..$load1 commit=$commit" >>"$log"
  rm -f "$current"
  [[ $status -eq 0 ]] || die "$p: emerge sweep exited with $status (run folder kept in $run; run this again to resume)"

  dest="docs/gallery/$p"
  stage=$(mktemp -d "$ROOT/docs/gallery/.$p.XXXXXX")
  for f in config.toml manifest.json models.csv scores.csv fits.csv claims.csv forecast.csv arms.csv arms_paired.csv times.csv; do
    [[ -f "$run/$f" ]] && cp "$run/$f" "$stage/"
  done
  cp "$run"/plots/*.png "$stage/"
  if [[ -d "$run/arms" ]]; then
    for arm in "$run"/arms/*/; do
      a=$(basename "$arm"); mkdir -p "$stage/arms/$a"
      cp "$arm"/fits.csv "$arm"/claims.csv "$stage/arms/$a/"
      if [[ -f "$arm/forecast.csv" ]]; then cp "$arm/forecast.csv" "$stage/arms/$a/"; fi
      [[ -d "$arm/plots" ]] && cp "$arm"/plots/*.png "$stage/arms/$a/"
    done
  fi
  total=$(awk '{s += $2} END {print s}' "$log")
  n=$(wc -l <"$log")
  threads=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["threads"])' "$run/manifest.json")
  revisions=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["git_revision"])' "$run/manifest.json")
  {
    echo "preset: $p"
    echo "made by: scripts/gallery.sh $p"
    echo "commit (copied and analysed by): $commit"
    echo "binary revision (last sweep invocation, manifest.json): $revisions"
    echo "date: $(date -u +%FT%TZ)"
    echo "machine: $cpu; $(nproc) cores; threads per job: $threads"
    printf 'wall time: %dh%02dm%02ds over %d invocation(s), %d resume(s)\n' \
      $((total / 3600)) $((total % 3600 / 60)) $((total % 60)) "$n" $((n - 1))
    echo "invocations (start UTC, seconds, exit, load average at start..end, commit):"
    sed 's/^/  /' "$log"
    echo "Another thread count or CPU changes float summation order: a re-run agrees in"
    echo "distribution (within the seed bands), not bit for bit."
  } >"$stage/provenance.txt"
  # The run's report.md links plots/; the copy's links its own charts and
  # quotes its provenance.
  "$EMERGE" report --run "$stage" >/dev/null
  rm -rf "$dest"
  mv "$stage" "$dest"
  echo "gallery.sh: $p copied to $dest"
done
table
