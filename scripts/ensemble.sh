#!/usr/bin/env bash
# A local ferrozk ensemble on 127.0.0.1, for people and tests.
#
#   scripts/ensemble.sh start [N] [BASE_PORT]   start N servers (1-9, default 3; BASE_PORT
#                                               default 2181), wait until each answers srvr,
#                                               print one line per server, then the connect
#                                               string alone on the last line
#   scripts/ensemble.sh stop                    SIGTERM each server, SIGKILL after 10 s
#   scripts/ensemble.sh status                  each server's srvr Mode, or "down"
#                                               (exit 0 if all answer, 3 if any is down)
#   scripts/ensemble.sh kill I                  kill -9 server I (fault drills)
#   scripts/ensemble.sh restart I               start server I again with its files
#   scripts/ensemble.sh wipe                    remove the directory (servers stopped)
#   scripts/ensemble.sh --help                  this text
#
# Ports of server i (1..N): client BASE_PORT+i-1, quorum BASE_PORT+1000+i, election
# BASE_PORT+2000+i; e.g. 2181-2183, 3182-3184, 4182-4184 for the default 3 servers. The
# three ranges cannot overlap for N <= 9, and BASE_PORT+2000+N must be <= 65535.
#
# Files: $FERROZK_ENSEMBLE_DIR (default ./ferrozk-ensemble)/server<i>/ holds zoo.cfg
# (rewritten on start), data/ (myid, snapshots), datalog/ (the log), ferrozk.log (stdout
# and stderr, appended) and ferrozk.pid. Data survives stop; `wipe` removes it.
#
# Environment: FERROZK_BIN the binary (default <repo>/target/release/ferrozk, built with
# `cargo build --release` if missing); FERROZK_TICK_TIME tickTime in ms (default 500);
# FERROZK_ENSEMBLE_EXTRA extra zoo.cfg lines, newline-separated, appended last so they
# override; FERROZK_ENSEMBLE_WAIT seconds to wait for the servers (default 30); RUST_LOG.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${FERROZK_ENSEMBLE_DIR:-./ferrozk-ensemble}"
WAIT_S="${FERROZK_ENSEMBLE_WAIT:-30}"
STOP_WAIT_S=10
N_MAX=9
LOG_TAIL_LINES=20

die() { echo "ensemble.sh: $*" >&2; exit 1; }
# The comment block at the top of this file.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# Ports of server $1 given base port $2.
client_port() { echo $(($2 + $1 - 1)); }
quorum_port() { echo $(($2 + 1000 + $1)); }
election_port() { echo $(($2 + 2000 + $1)); }

server_dir() { echo "$DIR/server$1"; }

# The ids of the servers in $DIR, in order.
server_ids() {
    local d
    [ -d "$DIR" ] || return 0
    for d in "$DIR"/server*; do
        [ -f "$d/zoo.cfg" ] || continue
        d="${d##*/server}"
        if is_uint "$d"; then echo "$d"; fi
    done | sort -n
}

# The client port in server $1's zoo.cfg.
cfg_client_port() {
    sed -n 's/^clientPort=\([0-9]*\)$/\1/p' "$(server_dir "$1")/zoo.cfg" | tail -n 1
}

# The pid recorded for server $1, alive or not; fails without a pid file.
recorded_pid() {
    local pidfile pid
    pidfile="$(server_dir "$1")/ferrozk.pid"
    [ -f "$pidfile" ] || return 1
    pid="$(cat "$pidfile")"
    is_uint "$pid" || return 1
    echo "$pid"
}

# The pid of server $1 if it is running: the pid file names a live process whose command
# line holds this server's zoo.cfg, so a pid reused by another program is never signalled.
running_pid() {
    local pid args
    pid="$(recorded_pid "$1")" || return 1
    args="$(ps -p "$pid" -o args= 2>/dev/null)" || return 1
    [[ $args == *"$(server_dir "$1")/zoo.cfg"* ]] || return 1
    echo "$pid"
}

# The reply to `srvr` on 127.0.0.1:$1; fails if nothing answers. Bash's /dev/tcp: no nc.
srvr() (
    local reply="" line
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'srvr' >&3
    # The server closes after replying; -t bounds a server that accepts but never answers.
    while IFS= read -r -t 2 line <&3 || [ -n "$line" ]; do
        reply+="$line"$'\n'
        line=""
    done
    exec 3<&-
    [ -n "$reply" ] || return 1
    printf '%s' "$reply"
) 2>/dev/null

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# What to show for a server that answered: its Mode line, else the reply's first line
# (ZooKeeper answers "This ZooKeeper instance is not currently serving requests" while
# an election runs).
describe_reply() {
    local mode
    mode="$(grep -m 1 '^Mode:' <<<"$1" || true)"
    if [ -n "$mode" ]; then echo "$mode"; else echo "no Mode ($(head -n 1 <<<"$1"))"; fi
}

find_binary() {
    if [ -n "${FERROZK_BIN:-}" ]; then
        [ -x "$FERROZK_BIN" ] || die "FERROZK_BIN=$FERROZK_BIN is not an executable file"
        BIN="$FERROZK_BIN"
        return
    fi
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/ferrozk"
    if [ ! -x "$BIN" ]; then
        echo "ensemble.sh: $BIN is missing; building it (cargo build --release)" >&2
        (cd "$ROOT" && cargo build --release >&2) || die "cargo build --release failed"
        [ -x "$BIN" ] || die "$BIN still missing after the build"
    fi
}

# Writes server $1's zoo.cfg and myid for an ensemble of $2 servers on base port $3.
write_server_files() {
    local i=$1 n=$2 base=$3 sdir j
    sdir="$(server_dir "$i")"
    mkdir -p "$sdir/data" "$sdir/datalog"
    echo "$i" >"$sdir/data/myid"
    {
        echo "# Written by scripts/ensemble.sh on every start; edits are lost."
        echo "tickTime=${FERROZK_TICK_TIME:-500}"
        echo "initLimit=10"
        echo "syncLimit=5"
        echo "dataDir=$sdir/data"
        echo "dataLogDir=$sdir/datalog"
        echo "clientPort=$(client_port "$i" "$base")"
        echo "4lw.commands.whitelist=*"
        echo "autopurge.snapRetainCount=3"
        echo "autopurge.purgeInterval=1"
        for ((j = 1; j <= n; j++)); do
            echo "server.$j=127.0.0.1:$(quorum_port "$j" "$base"):$(election_port "$j" "$base");127.0.0.1:$(client_port "$j" "$base")"
        done
        if [ -n "${FERROZK_ENSEMBLE_EXTRA:-}" ]; then
            echo "# FERROZK_ENSEMBLE_EXTRA"
            printf '%s\n' "$FERROZK_ENSEMBLE_EXTRA"
        fi
    } >"$sdir/zoo.cfg"
}

# Starts server $1 in the background and records its pid.
launch() {
    local sdir pid
    sdir="$(server_dir "$1")"
    echo "=== ensemble.sh: starting server.$1 at $(date '+%Y-%m-%d %H:%M:%S')" >>"$sdir/ferrozk.log"
    pid="$(
        cd "$sdir"
        nohup "$BIN" serve --config "$sdir/zoo.cfg" >>"$sdir/ferrozk.log" 2>&1 </dev/null &
        echo $!
    )"
    echo "$pid" >"$sdir/ferrozk.pid"
}

# Waits (at most WAIT_S seconds) until each server in "$@" answers srvr with a Mode line,
# or has exited. Prints one line per server; fails if any did not answer.
await_servers() {
    local deadline=$((SECONDS + WAIT_S)) i pid reply pending failed=()
    local replies=() # by server id; indexed, not associative, for bash 3 (macOS)
    while :; do
        pending=0
        for i in "$@"; do
            [[ ${replies[$i]:-} == *Mode:* ]] && continue
            # Just launched, so the recorded pid is ours; its command line may still be
            # the forking shell's for a moment, which is why running_pid is not used here.
            pid="$(recorded_pid "$i")" || continue
            kill -0 "$pid" 2>/dev/null || continue
            if reply="$(srvr "$(cfg_client_port "$i")")"; then replies[i]="$reply"; fi
            [[ ${replies[$i]:-} == *Mode:* ]] || pending=1
        done
        if [ "$pending" = 0 ] || [ "$SECONDS" -ge "$deadline" ]; then break; fi
        sleep 0.2
    done
    for i in "$@"; do
        local port log
        port="$(cfg_client_port "$i")"
        pid="$(recorded_pid "$i")" || pid=""
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ -n "${replies[$i]:-}" ]; then
            echo "server.$i  127.0.0.1:$port  pid $pid  $(describe_reply "${replies[$i]}")"
            continue
        fi
        failed+=("$i")
        log="$(server_dir "$i")/ferrozk.log"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            echo "server.$i  127.0.0.1:$port  pid $pid  did not answer srvr within ${WAIT_S}s; last lines of $log:" >&2
        else
            rm -f "$(server_dir "$i")/ferrozk.pid"
            echo "server.$i  127.0.0.1:$port  exited; last lines of $log:" >&2
        fi
        log_tail "$log" | sed 's/^/    /' >&2
    done
    if [ "${#failed[@]}" -gt 0 ]; then
        local others=""
        if [ "${#failed[@]}" -lt "$#" ]; then others="; the others keep running ('$0 status', '$0 stop')"; fi
        echo "ensemble.sh: server(s) ${failed[*]} did not come up$others" >&2
        return 1
    fi
}

# The last lines of a server log written since the latest start, so an earlier run's
# output does not pass for this one's.
log_tail() {
    awk -v max="$LOG_TAIL_LINES" '/^=== ensemble.sh: starting/ { n = 0 } { buf[n++] = $0 }
        END { for (i = (n > max ? n - max : 0); i < n; i++) print buf[i] }' "$1"
}

cmd_start() {
    local n="${1:-3}" base="${2:-2181}" i p existing first
    if ! is_uint "$n" || [ "$n" -lt 1 ] || [ "$n" -gt "$N_MAX" ]; then die "N must be 1 to $N_MAX, got '$n'"; fi
    if ! is_uint "$base" || [ "$base" -lt 1 ]; then die "BASE_PORT must be a positive integer, got '$base'"; fi
    [ $((base + 2000 + n)) -le 65535 ] ||
        die "BASE_PORT $base is too high: election port $((base + 2000 + n)) > 65535"
    for i in $(server_ids); do
        if p="$(running_pid "$i")"; then die "server.$i is running (pid $p); run '$0 stop' first"; fi
    done
    existing="$(server_ids | wc -l | tr -d ' ')"
    if [ "$existing" -gt 0 ]; then
        # Reusing data of a different ensemble (other ids or ports) would mix histories.
        first="$(server_ids | head -n 1)"
        if [ "$existing" != "$n" ] || [ "$first" != 1 ] || [ "$(cfg_client_port 1)" != "$base" ]; then
            die "$DIR holds another ensemble ($existing server(s), server.$first on port" \
                "$(cfg_client_port "$first")); run '$0 wipe' first, or set FERROZK_ENSEMBLE_DIR"
        fi
    fi
    for ((i = 1; i <= n; i++)); do
        for p in $(client_port "$i" "$base") $(quorum_port "$i" "$base") $(election_port "$i" "$base"); do
            if port_in_use "$p"; then die "port $p (server.$i) is already in use on 127.0.0.1"; fi
        done
    done
    find_binary
    mkdir -p "$DIR"
    DIR="$(cd "$DIR" && pwd -P)"
    local ids=() connect=()
    for ((i = 1; i <= n; i++)); do
        write_server_files "$i" "$n" "$base"
        ids+=("$i")
        connect+=("127.0.0.1:$(client_port "$i" "$base")")
    done
    for i in "${ids[@]}"; do launch "$i"; done
    await_servers "${ids[@]}"
    (
        IFS=,
        echo "${connect[*]}"
    )
}

cmd_stop() {
    local i pid entry live=() deadline
    if [ -z "$(server_ids)" ]; then
        echo "ensemble.sh: no ensemble in $DIR"
        return 0
    fi
    for i in $(server_ids); do
        if pid="$(running_pid "$i")"; then
            kill -TERM "$pid" 2>/dev/null || true
            live+=("$i:$pid")
        else
            echo "server.$i  not running"
        fi
    done
    deadline=$((SECONDS + STOP_WAIT_S))
    for entry in ${live[@]+"${live[@]}"}; do
        i="${entry%%:*}"
        pid="${entry#*:}"
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "server.$i  pid $pid still running after ${STOP_WAIT_S}s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        fi
        echo "server.$i  stopped (pid $pid)"
    done
    for i in $(server_ids); do rm -f "$(server_dir "$i")/ferrozk.pid"; done
}

cmd_status() {
    local i pid port reply down=0 any=0
    for i in $(server_ids); do
        any=1
        port="$(cfg_client_port "$i")"
        if ! pid="$(running_pid "$i")"; then
            echo "server.$i  127.0.0.1:$port  down"
            down=1
        elif reply="$(srvr "$port")"; then
            echo "server.$i  127.0.0.1:$port  pid $pid  $(describe_reply "$reply")"
        else
            echo "server.$i  127.0.0.1:$port  pid $pid  running, no srvr answer"
            down=1
        fi
    done
    [ "$any" = 1 ] || die "no ensemble in $DIR"
    [ "$down" = 0 ] || exit 3
}

# The id argument of kill/restart, checked against the servers in $DIR.
server_arg() {
    is_uint "${1:-}" || die "expected a server id, got '${1:-}'"
    [ -f "$(server_dir "$1")/zoo.cfg" ] || die "no server.$1 in $DIR"
}

cmd_kill() {
    local pid
    server_arg "${1:-}"
    pid="$(running_pid "$1")" || die "server.$1 is not running"
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$(server_dir "$1")/ferrozk.pid"
    echo "server.$1  killed (pid $pid, SIGKILL)"
}

cmd_restart() {
    local pid
    server_arg "${1:-}"
    if pid="$(running_pid "$1")"; then die "server.$1 is running (pid $pid)"; fi
    find_binary
    launch "$1"
    await_servers "$1"
}

cmd_wipe() {
    local i pid entry
    [ -d "$DIR" ] || {
        echo "ensemble.sh: $DIR does not exist"
        return 0
    }
    for i in $(server_ids); do
        if pid="$(running_pid "$i")"; then die "server.$i is running (pid $pid); run '$0 stop' first"; fi
    done
    # Remove only a directory this script made: server<i>/ entries and nothing else.
    for entry in "$DIR"/* "$DIR"/.[!.]*; do
        [ -e "$entry" ] || continue
        [[ ${entry##*/} =~ ^server[0-9]+$ ]] || die "$DIR holds $entry, which ensemble.sh did not make; not removing"
    done
    rm -rf -- "$DIR"
    echo "removed $DIR"
}

# Absolute and canonical, so each pid file's process can be matched to its zoo.cfg path
# whatever directory the script runs from.
if [ -d "$DIR" ]; then DIR="$(cd "$DIR" && pwd -P)"; fi

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    kill) cmd_kill "${2:-}" ;;
    restart) cmd_restart "${2:-}" ;;
    wipe) cmd_wipe ;;
    -h | --help | help) usage ;;
    "") usage >&2; exit 2 ;;
    *) echo "ensemble.sh: unknown command '$1' (see --help)" >&2; exit 2 ;;
esac
