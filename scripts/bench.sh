#!/usr/bin/env bash
# ferrozk next to Apache ZooKeeper 3.8 on this machine, with the same settings, through one
# load generator (target/release/ferrozk-bench, see bench/README.md).
#
#   scripts/bench.sh                 every workload against both servers, alternately,
#                                    3 rounds of short runs; prints ferrozk/ZooKeeper ratios
#                                    (median and min–max over rounds) and absolute figures
#   scripts/bench.sh --duration S    measured seconds per run (default 5; warm-up 1 s)
#   scripts/bench.sh --rounds N      rounds (default 3)
#   scripts/bench.sh --only W,W      only these workloads (names as in the table below)
#   scripts/bench.sh --smoke         each workload ~1 s against ferrozk only (what CI runs)
#   scripts/bench.sh --ensemble      3-server ensembles of both instead of single servers:
#                                    create, set, get, mixed (connections spread over the
#                                    three servers), 1x1 get/set, and leader failover (kill -9
#                                    of the leader until a write succeeds again)
#   scripts/bench.sh --znodes [N]    scale mode only: load N znodes of 100 bytes under 10
#                                    parents into each server (default 1000000), then RSS per
#                                    znode, snapshot size, and start-to-serving on restart
#
# Workloads: create, create-seq, delete, set, get, exists, children, mixed (90% get) with
# 8 connections x 32 outstanding; get-1x1 and set-1x1 (one request at a time); watch
# (1000 sessions watch one node; time from setData to the last notification).
#
# Ensembles (--ensemble) run on 127.0.0.1 with free ports, the same zoo.cfg for both
# (initLimit=10, syncLimit=5) plus server.1-3 lines and myid files; ZooKeeper runs
# QuorumPeerMain. CPU per op sums all three server processes.
#
# Settings shared by both servers: tickTime=2000, forceSync=yes (fsync on), snapCount
# default, fresh data dirs side by side under the output dir (one disk), each on a free
# 127.0.0.1 port, maxClientCnxns=0. ZooKeeper runs with the JVM flags of Debian's
# zkServer.sh/zkEnv.sh (no -Xmx: the JVM's default heap), ferrozk with RUST_LOG=warn.
#
# Environment: CARGO_TARGET_DIR (build dir), FERROZK_BIN / BENCH_BIN (skip the build and
# use these binaries), BENCH_OUT (output dir; default $CARGO_TARGET_DIR/bench/<time>),
# JAVA (default: zkEnv.sh's, else java).
#
# The machine is shared and noisy: the ratios from one run are the figures, absolute
# numbers are context. Each table row says how much CPU the generator itself used.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

DURATION=5
WARMUP=1
ROUNDS=3
SMOKE=0
ZNODES=0
ONLY=""
ENSEMBLE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION="$2"; shift ;;
        --rounds) ROUNDS="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        --smoke) SMOKE=1 ;;
        --ensemble) ENSEMBLE=1 ;;
        --znodes)
            if [ $# -gt 1 ] && [[ "$2" =~ ^[0-9]+$ ]]; then ZNODES="$2"; shift; else ZNODES=1000000; fi ;;
        -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ "$DURATION" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "bench.sh: --duration wants seconds" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --rounds wants a positive integer" >&2; exit 2; }

log() { echo "bench.sh: $*" >&2; }
die() { echo "bench.sh: FAILED: $*" >&2; exit 1; }

# ------------------------------------------------------------------------- binaries
if [ -z "${FERROZK_BIN:-}" ] || [ -z "${BENCH_BIN:-}" ]; then
    log "cargo build --release -p ferrozk -p ferrozk-bench"
    cargo build --release -q -p ferrozk -p ferrozk-bench
fi
FERROZK_BIN="${FERROZK_BIN:-$TARGET_DIR/release/ferrozk}"
BENCH_BIN="${BENCH_BIN:-$TARGET_DIR/release/ferrozk-bench}"
[ -x "$FERROZK_BIN" ] || die "no ferrozk binary at $FERROZK_BIN"
[ -x "$BENCH_BIN" ] || die "no ferrozk-bench binary at $BENCH_BIN"

OUT="${BENCH_OUT:-$TARGET_DIR/bench/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"

# ------------------------------------------------------------------------- servers
# Every process started here is remembered by PID and stopped by PID on exit.
declare -A PID=() PORT=() DIR=()
STARTED=()

stop_pid() {
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nobody listens on now (bash's /dev/tcp connect fails), from a random start.
# Ports already handed out are skipped (their servers may not listen yet).
USED_PORTS=" "
free_port() {
    local p=$((20000 + RANDOM % 20000)) i
    for i in $(seq 1 200); do
        if [[ "$USED_PORTS" != *" $p "* ]] && ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            USED_PORTS+="$p "
            FREE_PORT="$p"
            return 0
        fi
        p=$((p + 1))
    done
    die "no free port found"
}

# Apache ZooKeeper from Debian's package, installed when missing (as scripts/test.sh does).
ensure_zookeeper() {
    [ -r /usr/share/java/zookeeper.jar ] && return 0
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo > /dev/null || die "Apache ZooKeeper is not installed; run as root: apt-get install -y zookeeper"
        sudo=sudo
    fi
    log "apt-get install zookeeper (the server to compare with)"
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends zookeeper > "$OUT/apt.log" 2>&1; then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q >> "$OUT/apt.log" 2>&1
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends zookeeper >> "$OUT/apt.log" 2>&1 \
            || { tail -20 "$OUT/apt.log" >&2; die "apt-get install zookeeper failed"; }
    fi
}

# What Debian's zkServer.sh would run: zkEnv.sh's JAVA, CLASSPATH and JVMFLAGS, the flags
# zkServer.sh adds (heap dump and kill on OOM; local-only JMX as JMXLOCALONLY=true says).
zk_env() {
    ensure_zookeeper
    local env=/usr/share/zookeeper/bin/zkEnv.sh
    if [ -r "$env" ]; then
        # shellcheck disable=SC1090
        eval "$(bash -c ". '$env' >/dev/null 2>&1; declare -p CLASSPATH JVMFLAGS JAVA JMXLOCALONLY 2>/dev/null" || true)"
    fi
    ZK_CLASSPATH="${CLASSPATH:-/etc/zookeeper/conf:/usr/share/java/zookeeper.jar}"
    ZK_JVMFLAGS="${SERVER_JVMFLAGS:-} ${JVMFLAGS:-}"
    ZK_JAVA="${JAVA:-java}"
    ZK_JMXLOCALONLY="${JMXLOCALONLY:-false}"
}

write_cfg() { # name
    local name="$1" dir="${DIR[$1]}"
    cat > "$dir/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=${PORT[$name]}
clientPortAddress=127.0.0.1
maxClientCnxns=0
forceSync=yes
4lw.commands.whitelist=*
admin.enableServer=false
EOF
}

# Starts a server on its existing dir and config; sets PID[name]. Names are ferrozk and
# zookeeper, or ferrozk1..3 and zookeeper1..3 for ensemble members.
start_server() { # name
    local name="$1" dir="${DIR[$1]}" main=org.apache.zookeeper.server.ZooKeeperServerMain
    [ "$ENSEMBLE" = 1 ] && main=org.apache.zookeeper.server.quorum.QuorumPeerMain
    case "$name" in
        ferrozk*)
            RUST_LOG=warn NO_COLOR=1 "$FERROZK_BIN" serve --config "$dir/zoo.cfg" \
                >> "$dir/server.log" 2>&1 < /dev/null &
            ;;
        zookeeper*)
            # shellcheck disable=SC2086
            (cd "$dir" && exec "$ZK_JAVA" "-Dzookeeper.log.dir=$dir" "-Dzookeeper.log.file=zookeeper.log" \
                -XX:+HeapDumpOnOutOfMemoryError "-XX:OnOutOfMemoryError=kill -9 %p" \
                -cp "$ZK_CLASSPATH" $ZK_JVMFLAGS \
                -Dcom.sun.management.jmxremote "-Dcom.sun.management.jmxremote.local.only=$ZK_JMXLOCALONLY" \
                "$main" "$dir/zoo.cfg" \
                >> "$dir/server.log" 2>&1 < /dev/null) &
            ;;
    esac
    PID[$name]=$!
    STARTED+=("${PID[$name]}")
}

# Milliseconds until the server serves a session (bounded by 600 s); fails at once when
# the server process exits before it serves.
wait_serving() { # name
    local name="$1" ms waiter
    "$BENCH_BIN" wait --server "127.0.0.1:${PORT[$name]}" --timeout-s 600 > "$OUT/.wait-$name" &
    waiter=$!
    while kill -0 "$waiter" 2>/dev/null; do
        if ! kill -0 "${PID[$name]}" 2>/dev/null; then
            kill "$waiter" 2>/dev/null || true
            wait "$waiter" 2>/dev/null || true
            tail -30 "${DIR[$name]}/server.log" >&2 || true
            die "$name exited before it served; see ${DIR[$name]}/server.log"
        fi
        sleep 0.05
    done
    if ! wait "$waiter"; then
        tail -30 "${DIR[$name]}/server.log" >&2 || true
        die "$name did not start serving"
    fi
    ms=$(cat "$OUT/.wait-$name")
    rm -f "$OUT/.wait-$name"
    kill -0 "${PID[$name]}" 2>/dev/null || die "$name exited; see ${DIR[$name]}/server.log"
    echo "$ms"
}

fresh_server() { # name
    local name="$1"
    DIR[$name]="$OUT/$name"
    rm -rf "${DIR[$name]}"
    mkdir -p "${DIR[$name]}/data"
    free_port; PORT[$name]=$FREE_PORT
    write_cfg "$name"
    start_server "$name"
    wait_serving "$name" > /dev/null
    log "$name: pid ${PID[$name]}, 127.0.0.1:${PORT[$name]}, data ${DIR[$name]}/data"
}

# A 3-server ensemble of kind (ferrozk or zookeeper): members <kind>1..3.
fresh_ensemble() { # kind
    local kind="$1" i servers=""
    for i in 1 2 3; do
        free_port; PORT[$kind$i]=$FREE_PORT
        free_port; local q=$FREE_PORT
        free_port; local e=$FREE_PORT
        servers+="server.$i=127.0.0.1:$q:$e;127.0.0.1:${PORT[$kind$i]}"$'\n'
    done
    for i in 1 2 3; do
        DIR[$kind$i]="$OUT/$kind$i"
        rm -rf "${DIR[$kind$i]}"
        mkdir -p "${DIR[$kind$i]}/data"
        echo "$i" > "${DIR[$kind$i]}/data/myid"
        write_cfg "$kind$i"
        printf '%s' "$servers" >> "${DIR[$kind$i]}/zoo.cfg"
    done
    for i in 1 2 3; do start_server "$kind$i"; done
    for i in 1 2 3; do wait_serving "$kind$i" > /dev/null; done
    log "$kind ensemble: pids ${PID[${kind}1]} ${PID[${kind}2]} ${PID[${kind}3]}, ports ${PORT[${kind}1]},${PORT[${kind}2]},${PORT[${kind}3]}"
}

# The srvr Mode of a server ("down" when it does not answer).
server_mode() { # port
    local out
    out=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf srvr >&3 && timeout 2 cat <&3) 2>/dev/null || true)
    out=$(sed -n 's/^Mode: //p' <<< "$out")
    echo "${out:-down}"
}

# kill -9 of the leader; ms until a write succeeds on the others; then the old leader
# rejoins.
failover_once() { # kind round
    local kind="$1" round="$2" i leader="" others=() ms deadline
    deadline=$((SECONDS + 60))
    while [ -z "$leader" ] && [ "$SECONDS" -lt "$deadline" ]; do
        for i in 1 2 3; do
            [ "$(server_mode "${PORT[$kind$i]}")" = leader ] && leader=$i
        done
        [ -n "$leader" ] || sleep 0.2
    done
    [ -n "$leader" ] || die "$kind: no leader"
    for i in 1 2 3; do [ "$i" = "$leader" ] || others+=("127.0.0.1:${PORT[$kind$i]}"); done
    kill -KILL "${PID[$kind$leader]}"
    wait "${PID[$kind$leader]}" 2>/dev/null || true
    ms=$("$BENCH_BIN" wait --write --server "$(IFS=,; echo "${others[*]}")" --timeout-s 120) \
        || die "$kind: no write accepted within 120 s of killing the leader"
    log "round $round: $kind failover (leader server.$leader killed) ${ms} ms"
    printf '{"label":"%s","round":%s,"case":"failover 3 servers","metrics":{"failover_ms":%s}}\n' \
        "$kind" "$round" "$ms" >> "$RESULTS"
    start_server "$kind$leader"
    wait_serving "$kind$leader" > /dev/null
}

stop_server() { # name
    stop_pid "${PID[$1]}"
}

rss_bytes() { # pid
    awk '/^VmRSS:/ { printf "%.0f\n", $2 * 1024 }' "/proc/$1/status"
}

# ------------------------------------------------------------------------- header
cores=$(nproc)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "ferrozk benchmark, $(date -u +%Y-%m-%dT%H:%MZ), commit $commit"
echo "machine: $cores cores ($cpu), $(awk '/^MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
echo "output: $OUT"

# ------------------------------------------------------------------------- workloads
# name | ferrozk-bench run arguments
ALL_WORKLOADS=(
    "create|--workload create -c 8 -o 32"
    "create-seq|--workload create --sequential -c 8 -o 32"
    "delete|--workload delete -c 8 -o 32"
    "set|--workload set -c 8 -o 32"
    "get|--workload get -c 8 -o 32"
    "exists|--workload exists -c 8 -o 32"
    "children|--workload children -c 8 -o 32"
    "mixed|--workload mixed --read-pct 90 -c 8 -o 32"
    "get-1x1|--workload get -c 1 -o 1"
    "set-1x1|--workload set -c 1 -o 1"
    "watch|--workload watch -c 1000"
)

selected() { # name
    [ -z "$ONLY" ] && return 0
    [[ ",$ONLY," == *",$1,"* ]]
}

run_one() { # server round name args...
    local server="$1" round="$2" name="$3"; shift 3
    local extra=() warm="$WARMUP"
    if [ "$name" = delete ]; then
        # Every delete needs a node made before the run, and a warm-up would spend them:
        # no warm-up, and enough nodes for the window at 100k deletes/s (at 20k/s ferrozk
        # emptied them in under a second, too short a window for CPU and tail figures). A
        # faster server still runs out early; its rate over the shorter window stays right.
        warm=0
        extra=(--nodes "$(awk -v d="$DURATION" 'BEGIN { n = int(100000 * d); if (n < 5000) n = 5000; print n }')")
    fi
    local addrs pids=() i
    addrs="127.0.0.1:${PORT[$server]:-}"
    [ -n "${PID[$server]:-}" ] && pids=(--server-pid "${PID[$server]}")
    if [ "$ENSEMBLE" = 1 ]; then
        addrs="127.0.0.1:${PORT[${server}1]},127.0.0.1:${PORT[${server}2]},127.0.0.1:${PORT[${server}3]}"
        pids=()
        for i in 1 2 3; do pids+=(--server-pid "${PID[$server$i]}"); done
    fi
    if ! "$BENCH_BIN" run --server "$addrs" "${pids[@]}" \
        --label "$server" --round "$round" --duration "$DURATION" --warmup "$warm" \
        --json "$RESULTS" --quiet "$@" "${extra[@]}"; then
        for i in "" 1 2 3; do [ -n "${DIR[$server$i]:-}" ] && tail -20 "${DIR[$server$i]}/server.log" >&2; done
        die "$name against $server (round $round)"
    fi
    for i in "" 1 2 3; do
        if [ -n "${PID[$server$i]:-}" ] && ! kill -0 "${PID[$server$i]}" 2>/dev/null; then
            die "$server$i died during $name; see ${DIR[$server$i]}/server.log"
        fi
    done
}

scale_mode() {
    local n="$ZNODES" server rss0 rss1 t_log t_snap snap_file snap_bytes
    log "scale mode: $n znodes of 100 bytes under 10 parents, each server alone"
    for server in ferrozk zookeeper; do
        fresh_server "$server"
        sleep 1
        rss0=$(rss_bytes "${PID[$server]}")
        "$BENCH_BIN" run --server "127.0.0.1:${PORT[$server]}" --server-pid "${PID[$server]}" \
            --label "$server" --workload load --nodes "$n" --parents 10 --value-bytes 100 \
            -c 8 -o 64 --warmup 0 --duration 3600 --json "$RESULTS" \
            || die "loading $server"
        sleep 2
        rss1=$(rss_bytes "${PID[$server]}")
        stop_server "$server"
        # First restart replays the log (and both servers then write a snapshot).
        touch "$OUT/.restart-$server"
        start_server "$server"
        t_log=$(wait_serving "$server")
        snap_file=$(wait_snapshot "$server" "$OUT/.restart-$server")
        snap_bytes=$(stat -c %s "$snap_file")
        stop_server "$server"
        # Second restart starts from that snapshot.
        start_server "$server"
        t_snap=$(wait_serving "$server")
        stop_server "$server"
        log "$server: rss $rss0 -> $rss1 bytes, snapshot $snap_file ($snap_bytes bytes), restart ${t_log} ms / ${t_snap} ms"
        printf '{"label":"%s","round":1,"case":"scale %sz v100","metrics":{"rss_bytes_per_znode":%s,"snapshot_mb":%s,"snapshot_bytes_per_znode":%s,"restart_log_ms":%s,"restart_snapshot_ms":%s}}\n' \
            "$server" "$n" \
            "$(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')" \
            "$(awk -v s="$snap_bytes" 'BEGIN { printf "%.2f", s / 1e6 }')" \
            "$(awk -v s="$snap_bytes" -v n="$n" 'BEGIN { printf "%.1f", s / n }')" \
            "$t_log" "$t_snap" >> "$RESULTS"
    done
}

snapshot_glob() { # name
    case "$1" in
        ferrozk) echo "${DIR[$1]}/data/ferrozk/snapshot.*" ;;
        zookeeper) echo "${DIR[$1]}/data/version-2/snapshot.*" ;;
    esac
}

# Waits (at most 300 s) for a snapshot written after the marker file, and for its size to
# settle (ferrozk writes it in the background); prints its path. Counting files would not
# do: ferrozk purges old snapshots as it writes new ones.
wait_snapshot() { # name marker
    local name="$1" marker="$2" i newest size last=-1 stable=0
    for i in $(seq 1 3000); do
        # shellcheck disable=SC2046
        newest=$(find $(dirname "$(snapshot_glob "$name")") -maxdepth 1 -name 'snapshot.*' \
            -newer "$marker" -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -1 | cut -d' ' -f2-)
        if [ -n "$newest" ]; then
            size=$(stat -c %s "$newest" 2>/dev/null || echo -1)
            if [ "$size" = "$last" ] && [ "$size" -gt 0 ]; then
                stable=$((stable + 1))
                [ "$stable" -ge 10 ] && { echo "$newest"; return 0; }
            else
                stable=0
            fi
            last="$size"
        fi
        sleep 0.1
    done
    die "$name wrote no snapshot on restart within 300 s"
}

if [ "$ZNODES" -gt 0 ]; then
    zk_env
    echo "zookeeper: $("$ZK_JAVA" -version 2>&1 | head -1), flags: ${ZK_JVMFLAGS:-none} (JVM default heap)"
    scale_mode
    echo
    "$BENCH_BIN" compare --subject ferrozk --baseline zookeeper "$RESULTS"
    exit 0
fi

if [ "$SMOKE" = 1 ]; then
    DURATION=1
    WARMUP=0.2
    ROUNDS=1
    SERVERS=(ferrozk)
    echo "smoke: every workload ~1 s against ferrozk only"
else
    zk_env
    SERVERS=(ferrozk zookeeper)
    echo "zookeeper: $("$ZK_JAVA" -version 2>&1 | head -1), flags: ${ZK_JVMFLAGS:-none} (JVM default heap)"
    echo "runs: $ROUNDS rounds x ${DURATION}s (+${WARMUP}s warm-up), servers alternate first/second each round"
fi

if [ "$ENSEMBLE" = 1 ]; then
    ALL_WORKLOADS=(
        "create|--workload create -c 8 -o 32"
        "set|--workload set -c 8 -o 32"
        "get|--workload get -c 8 -o 32"
        "mixed|--workload mixed --read-pct 90 -c 8 -o 32"
        "get-1x1|--workload get -c 1 -o 1"
        "set-1x1|--workload set -c 1 -o 1"
    )
    for s in "${SERVERS[@]}"; do fresh_ensemble "$s"; done
    echo "ensembles: 3 servers each; connections spread over the three"
else
    for s in "${SERVERS[@]}"; do fresh_server "$s"; done
fi

for round in $(seq 1 "$ROUNDS"); do
    for entry in "${ALL_WORKLOADS[@]}"; do
        name="${entry%%|*}"
        args="${entry#*|}"
        selected "$name" || continue
        # The smoke run keeps fan-out small: it checks the harness, not the servers.
        if [ "$SMOKE" = 1 ] && [ "$name" = watch ]; then args="--workload watch -c 50"; fi
        order=("${SERVERS[@]}")
        if [ "${#SERVERS[@]}" = 2 ] && [ $((round % 2)) = 0 ]; then order=(zookeeper ferrozk); fi
        for s in "${order[@]}"; do
            log "round $round: $name on $s"
            # shellcheck disable=SC2086
            run_one "$s" "$round" "$name" $args
        done
    done
    if [ "$ENSEMBLE" = 1 ] && selected failover; then
        for s in "${SERVERS[@]}"; do failover_once "$s" "$round"; done
    fi
done

echo
echo "== every run (absolute; µs latencies; srv = server process; gen = this generator)"
"$BENCH_BIN" table "$RESULTS"
if [ "${#SERVERS[@]}" = 2 ]; then
    echo
    echo "== ferrozk / ZooKeeper: median ratio over rounds (min–max); ops/s: higher is better for"
    echo "== ferrozk, every other metric: lower is better. The machine is shared: ratios are the"
    echo "== figures, absolute values (medians) are context."
    "$BENCH_BIN" compare --subject ferrozk --baseline zookeeper "$RESULTS"
fi
