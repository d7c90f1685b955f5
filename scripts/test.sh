#!/usr/bin/env bash
# The project's test command: installs what it needs on a fresh Debian machine, then
# builds, lints and tests everything. CI runs it as `.ci/run` (CI=true, as root).
#
#   scripts/test.sh                 everything: cargo build/fmt/clippy/test + compat tests
#   scripts/test.sh --zookeeper     only the compat tests, against Apache ZooKeeper 3.8
#                                   (shows that the tests themselves are right)
#   scripts/test.sh --compat-only   only the compat tests, against the ferrozk binary
#   scripts/test.sh --no-compat     everything but the compat tests
#   scripts/test.sh ... -- ARGS     extra arguments for pytest (e.g. -k lock)
#
# Environment: FERROZK_TARGET=zookeeper is the same as --zookeeper; FERROZK_BIN picks the
# ferrozk binary for the compat tests (default: $CARGO_TARGET_DIR/release/ferrozk);
# PYTHON picks the interpreter for the virtualenv (default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RUN_CARGO=1
RUN_COMPAT=1
TARGET="${FERROZK_TARGET:-ferrozk}"
PYTEST_EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --zookeeper) TARGET=zookeeper; RUN_CARGO=0 ;;
        --compat-only) RUN_CARGO=0 ;;
        --no-compat) RUN_COMPAT=0 ;;
        --) shift; PYTEST_EXTRA=("$@"); break ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "test.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$TARGET" = zookeeper ]; then RUN_CARGO=0; fi

START=$(date +%s)
SECTION_START=$START
section() {
    local now; now=$(date +%s)
    echo
    echo "=============================================================================="
    echo "== $*    [t+$((now - START))s]"
    echo "=============================================================================="
    SECTION_START=$now
}
fail() { echo "test.sh: FAILED: $*" >&2; exit 1; }
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "test.sh: FAILED (exit $rc) after $(( $(date +%s) - START ))s" >&2; fi' EXIT

# --------------------------------------------------------------------- system packages
section "System packages (apt-get only for what is missing)"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
NEED=()
if [ "$RUN_COMPAT" = 1 ]; then
    for p in zookeeper libcurator-client-java libcurator-framework-java libcurator-recipes-java libslf4j-java; do
        pkg_installed "$p" || NEED+=("$p")
    done
    command -v javac >/dev/null 2>&1 || NEED+=(default-jdk-headless)
    PY="${PYTHON:-python3}"
    if ! command -v "$PY" >/dev/null 2>&1; then
        NEED+=(python3 python3-venv)
        PY=python3
    elif ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        pkg_installed python3-venv || NEED+=(python3-venv)
    fi
fi
if [ ${#NEED[@]} -gt 0 ]; then
    echo "installing: ${NEED[*]}"
    if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
        fail "need root to run: apt-get install -y ${NEED[*]}"
    fi
    # A fresh machine may have no package lists at all.
    if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
        $SUDO apt-get update -q
    fi
    if ! $SUDO apt-get install -y -q --no-install-recommends "${NEED[@]}"; then
        echo "apt-get install failed; updating the package lists and retrying"
        $SUDO apt-get update -q
        $SUDO apt-get install -y -q --no-install-recommends "${NEED[@]}"
    fi
else
    echo "all present"
fi
echo "tools: $(cargo --version 2>/dev/null || echo 'no cargo'); $(java -version 2>&1 | head -1); $("${PY:-python3}" --version 2>&1)"

# --------------------------------------------------------------------- cargo
if [ "$RUN_CARGO" = 1 ]; then
    command -v cargo >/dev/null 2>&1 || fail "cargo not found: install the Rust toolchain"

    section "cargo fmt --all -- --check"
    cargo fmt --all -- --check

    section "cargo build --release --workspace"
    cargo build --release --workspace
    # The linearizability checker the ensemble fault tests feed their histories to.
    cargo build --release -p ferrozk-consensus --features sim --bin check_history

    section "cargo clippy --workspace --all-targets -- -D warnings"
    cargo clippy --workspace --all-targets -- -D warnings

    section "cargo test --workspace --release"
    cargo test --workspace --release

    section "Benchmark smoke run (scripts/bench.sh --smoke: keeps the harness working, measures nothing)"
    scripts/bench.sh --smoke
fi

# --------------------------------------------------------------------- compat tests
if [ "$RUN_COMPAT" = 1 ]; then
    section "Python virtualenv for the compat tests (compat-tests/.venv)"
    VENV="$ROOT/compat-tests/.venv"
    REQ="$ROOT/compat-tests/requirements.txt"
    STAMP="$VENV/.requirements.sha256"
    want=$(sha256sum "$REQ" | cut -d' ' -f1)
    if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        echo "broken virtualenv; recreating"
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$PY" -m venv "$VENV"
    fi
    if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
        echo "$want" > "$STAMP"
    fi
    "$VENV/bin/python" -m pip list --disable-pip-version-check 2>/dev/null \
        | grep -Ei '^(kazoo|pytest|pytest-timeout) ' || true

    if [ "$TARGET" = zookeeper ]; then
        export FERROZK_TARGET=zookeeper
        section "Compat tests against Apache ZooKeeper 3.8 (/usr/share/java/zookeeper.jar)"
    else
        export FERROZK_TARGET=ferrozk
        export FERROZK_BIN="${FERROZK_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/ferrozk}"
        [ -x "$FERROZK_BIN" ] || fail "no ferrozk binary at $FERROZK_BIN (cargo build --release)"
        section "Compat tests against ferrozk ($FERROZK_BIN)"
    fi
    cd "$ROOT/compat-tests"
    set +e
    "$VENV/bin/python" -m pytest -x --timeout=180 --durations=8 "${PYTEST_EXTRA[@]}"
    rc=$?
    set -e
    cd "$ROOT"
    if [ $rc -eq 5 ]; then fail "pytest collected no tests"; fi
    [ $rc -eq 0 ] || fail "compat tests (pytest exit $rc)"
fi

section "All green in $(( $(date +%s) - START ))s"
