#!/usr/bin/env bash
# A bounded AFL++ campaign on one fuzz target (docs/fuzzing.md):
#
#   tests/fuzz/run.sh TARGET [EXECS]   fuzz TARGET from tests/fuzz/corpus/TARGET until about EXECS
#                                      executions (default 10,000,000), then print the figures
#   tests/fuzz/run.sh cmin TARGET      minimize the committed corpus plus the last campaign's
#                                      queue back into tests/fuzz/corpus/TARGET
#
# Everything it installs or builds lives under ~/.cache/tsbridge (TSBRIDGE_CACHE), outside the
# clone: cargo-afl from crates.io, AFL++ built from the source cargo-afl ships, the instrumented
# targets. Optional: TSBRIDGE_FUZZ_SECONDS caps the time as well, TSBRIDGE_FUZZ_RESUME=1 goes on
# from the last campaign's state instead of starting over, TSBRIDGE_FUZZ_JOBS=N fuzzes with N
# instances (one core each) that share out the executions, TSBRIDGE_FUZZ_SEEDS=DIR starts from
# DIR instead of the committed corpus (say, a long campaign's queue minimized with afl-cmin, whose
# thousands of entries slow a resumed campaign down). Exits 1 if AFL++ saved a crash or a
# hang (they are listed; copy them into the corpus once fixed). CI never runs this: it replays
# the corpus through `cargo test` (tests/it/fuzz_corpus.rs).
set -euo pipefail

TARGETS=(cr_json validate_yaml admission_review wire selector fqn)
CARGO_AFL_VERSION=0.18.2

usage() {
  echo "usage: $0 TARGET [EXECS] | $0 cmin TARGET   (TARGET: ${TARGETS[*]})" >&2
  exit 2
}
known() {
  local t
  for t in "${TARGETS[@]}"; do [[ $t == "$1" ]] && return 0; done
  return 1
}

mode=fuzz
if [[ ${1:-} == cmin ]]; then
  mode=cmin
  shift
fi
target=${1:-}
known "$target" || usage
execs=${2:-10000000}
[[ $execs =~ ^[0-9]+$ ]] || usage

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${TSBRIDGE_CACHE:-$HOME/.cache/tsbridge}
corpus=$here/corpus/$target
out=$cache/fuzz-out/$target
export PATH="$cache/tools/bin:$PATH"
# cargo-afl keeps the AFL++ it builds under the XDG data directory.
export XDG_DATA_HOME=$cache/afl-data
export CARGO_TARGET_DIR=${TSBRIDGE_FUZZ_TARGET_DIR:-$cache/target-fuzzing}
log() { echo "fuzz: $*" >&2; }

if ! cargo afl --version >/dev/null 2>&1; then
  log "installing cargo-afl $CARGO_AFL_VERSION"
  nice -n 10 cargo install --locked --root "$cache/tools" "cargo-afl@$CARGO_AFL_VERSION"
fi
if ! build_log=$(nice -n 10 cargo afl config --build 2>&1) && [[ $build_log != *"already built"* ]]; then
  echo "$build_log" >&2
  log "building AFL++ failed (it needs make and a C compiler)"
  exit 1
fi

log "building $target (instrumented, release with debug assertions)"
(cd "$here" && nice -n 10 cargo afl build --release --locked --bin "$target" >&2)
binary=$CARGO_TARGET_DIR/release/$target

# AFL++ refuses to start on some host settings that do not matter for a bounded campaign here;
# say so instead of changing the host (core_pattern is global, cpufreq needs root on the host).
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export AFL_NO_UI=1

if [[ $mode == cmin ]]; then
  staged=$(mktemp -d)
  trap 'rm -rf "$staged"' EXIT
  cp "$corpus"/* "$staged"/
  if [[ -d $out/default/queue ]]; then
    find "$out/default/queue" -maxdepth 1 -type f -exec cp {} "$staged"/ \;
  fi
  minimized=$(mktemp -d)
  trap 'rm -rf "$staged" "$minimized"' EXIT
  # The shell afl-cmin: AFL++ 4.40c's Python one finds no tuples in these persistent-mode targets.
  bin=$(find "$XDG_DATA_HOME/afl.rs" -path "*/afl.rs-$CARGO_AFL_VERSION/afl/bin/afl-cmin.bash" | head -1)
  AFL_PATH=$(dirname "$bin") nice -n 10 "$bin" -m 256 -t 5000 -i "$staged" -o "$minimized" \
    -- "$binary" >"$staged.log" 2>&1 || { tail -5 "$staged.log" >&2; exit 1; }
  rm -f "$staged.log"
  # What the minimized set keeps replaces the corpus; fixed crashes (crash-*) always stay, and
  # so do the wire seeds (tests/it/fuzz_corpus.rs checks them). Fuzzer finds are named by
  # content; big ones stay out, and so does what exceeds the budget below (the whole corpus is
  # a few hundred KB: CI replays all of it).
  if [[ $target == wire ]]; then
    find "$corpus" -maxdepth 1 -type f ! -name 'crash-*' ! -name 'seed-*' -delete
  else
    find "$corpus" -maxdepth 1 -type f ! -name 'crash-*' -delete
  fi
  for file in "$minimized"/*; do
    name=$(basename "$file")
    [[ -e $corpus/$name ]] && continue
    if [[ $name == seed-* ]]; then
      cp "$file" "$corpus/$name"
    elif (($(stat -c %s "$file") <= 4096)); then
      cp "$file" "$corpus/$target-$(sha1sum "$file" | cut -c1-16)"
    fi
  done
  # A budget per target, in bytes and files: the smallest finds first.
  budget=${TSBRIDGE_FUZZ_CORPUS_BYTES:-40000} files=${TSBRIDGE_FUZZ_CORPUS_FILES:-300}
  total=0 count=0
  while read -r size file; do
    total=$((total + size)) count=$((count + 1))
    ((total > budget || count > files)) && rm -f "$file"
  done < <(find "$corpus" -maxdepth 1 -type f -name "$target-*" -printf '%s %p\n' | sort -n)
  log "$target corpus: $(find "$corpus" -type f | wc -l) files, $(cat "$corpus"/* | wc -c) bytes"
  exit 0
fi

args=(-i "${TSBRIDGE_FUZZ_SEEDS:-$corpus}")
if [[ ${TSBRIDGE_FUZZ_RESUME:-} == 1 && -d $out/default ]]; then
  # AFL++ 4.40c cannot read back the fastresume.bin it writes; resume from the queue instead.
  export AFL_AUTORESUME=1 AFL_NO_FASTRESUME=1
else
  rm -rf "$out"
fi
mkdir -p "$out"
[[ -n ${TSBRIDGE_FUZZ_SECONDS:-} ]] && args+=(-V "$TSBRIDGE_FUZZ_SECONDS")
# Tokens of the input language (kinds, fields, annotation keys, FQN collections).
[[ -f $here/dict/$target.dict ]] && args+=(-x "$here/dict/$target.dict")
# -m: unbounded allocation becomes an allocation failure (a crash), -t: a hang past 1 s.
log "fuzzing $target for about $execs executions (findings in $out)"
started=$SECONDS
# TSBRIDGE_FUZZ_JOBS=N runs N instances on one corpus (AFL++'s main `default` and secondaries
# `jobK`: one fuzzer uses one core), sharing out what is left of EXECS between them.
jobs=${TSBRIDGE_FUZZ_JOBS:-1}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || usage
# One figure of an instance's fuzzer_stats, as an integer (0 when it has none yet).
stat_of() {
  local v
  v=$(awk -F' *: *' -v k="$2" '$1 == k { print $2 }' "$1/fuzzer_stats" 2>/dev/null)
  v=${v%%.*}
  echo "${v:-0}"
}
instances=(default)
for ((j = 2; j <= jobs; j++)); do instances+=("job$j"); done
done_so_far=0
for name in "${instances[@]}"; do
  done_so_far=$((done_so_far + $(stat_of "$out/$name" execs_done)))
done
share=$(((execs > done_so_far ? execs - done_so_far : 0) / jobs + 1))
pids=()
for name in "${instances[@]}"; do
  role=()
  if ((jobs > 1)); then
    [[ $name == default ]] && role=(-M default) || role=(-S "$name")
  fi
  # -E counts an instance's own executions, resumed ones included.
  until_execs=$(($(stat_of "$out/$name" execs_done) + share))
  nice -n 10 cargo afl fuzz "${args[@]}" "${role[@]}" -o "$out" -m 256 -t 1000 -E "$until_execs" \
    -- "$binary" >"$out/afl-$name.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    tail -30 "$out/afl-${instances[$i]}.log" >&2
    failed=1
  fi
done
((failed == 0)) || { log "afl-fuzz failed"; exit 1; }

sum() {
  local total=0 name
  for name in "${instances[@]}"; do total=$((total + $(stat_of "$out/$name" "$1"))); done
  echo "$total"
}
stat() { stat_of "$out/default" "$1"; }
crashes=$(sum saved_crashes)
hangs=$(sum saved_hangs)
echo "target=$target jobs=$jobs execs_done=$(sum execs_done) execs_per_sec=$(sum execs_per_sec)" \
  "run_time=$(stat run_time)s wall=$((SECONDS - started))s corpus=$(stat corpus_count)" \
  "edges=$(stat edges_found)/$(stat total_edges) crashes=$crashes hangs=$hangs"
if [[ $crashes != 0 || $hangs != 0 ]]; then
  for name in "${instances[@]}"; do
    find "$out/$name/crashes" "$out/$name/hangs" -type f ! -name README.txt >&2
  done
  exit 1
fi
