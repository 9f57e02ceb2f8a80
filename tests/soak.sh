#!/usr/bin/env bash
# The fault-injection soak of tests/it/soak.rs at full length, on SQLite and on PostgreSQL with
# two replicas: 10,000 changes and 100 faults each by default. Bounded: it stops by itself, and
# prints each fault, its heal time (p50, max) and the seed that replays the run.
#
#   tests/soak.sh                                   # both stores, 10,000 changes, 100 faults
#   TSBRIDGE_SOAK_SEED=42 tests/soak.sh sqlite      # one store, a given seed
#   TSBRIDGE_SOAK_CHANGES=2000 TSBRIDGE_SOAK_FAULTS=20 tests/soak.sh postgres
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$TSBRIDGE_ROOT"
export TSBRIDGE_SOAK_CHANGES="${TSBRIDGE_SOAK_CHANGES:-10000}"
export TSBRIDGE_SOAK_FAULTS="${TSBRIDGE_SOAK_FAULTS:-100}"
case "${1:-both}" in
  sqlite) filter=(soak::a_soak_of_changes_and_faults_on_sqlite) ;;
  postgres) filter=(soak::a_soak_of_changes_and_faults_on_postgres) ;;
  both) filter=(soak::) ;;
  *) echo "usage: $0 [sqlite|postgres|both]" >&2; exit 2 ;;
esac
setup_all
export TSBRIDGE_SOAK_PREFIX="${TSBRIDGE_SOAK_PREFIX:-soak-long}"
clusters=("$TSBRIDGE_SOAK_PREFIX-a" "$TSBRIDGE_SOAK_PREFIX-b" "$TSBRIDGE_SOAK_PREFIX-c")
stop_clusters() {
  for c in "${clusters[@]}"; do REALK8S_NAME=$c tests/realk8s.sh down >/dev/null 2>&1 || true; done
}
trap stop_clusters EXIT
for c in "${clusters[@]}"; do REALK8S_NAME=$c tests/realk8s.sh up >/dev/null; done
# Its own control planes (not the test suite's soak-a/b/c), one soak at a time.
timeout 4h cargo test --locked --test it -- --include-ignored --nocapture --test-threads 1 "${filter[@]}"
