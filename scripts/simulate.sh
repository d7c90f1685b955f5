#!/usr/bin/env bash
# Deterministic simulation of the Multi-Paxos replica (consensus/src/sim).
#
#   scripts/simulate.sh --seeds N [--start S] [--replicas 3|5] [--observers K] [--ticks T] [--mutation NAME] [--jobs J]
#   scripts/simulate.sh --seed S --trace [--replicas 3|5] [--mutation NAME]
#
# Mutations: ack-before-persist accept-lower-ballot commit-without-quorum
#            skip-phase1-recovery apply-uncommitted sync-without-quorum
# The last line is `simulate: N seeds, V violations`; exit status 1 when V > 0.
# Builds into its own target dir (CARGO_TARGET_DIR overrides) so it never blocks other builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/simulate}"
cargo build --quiet --release -p ferrozk-consensus --features sim --bin simulate
exec "$CARGO_TARGET_DIR/release/simulate" "$@"
