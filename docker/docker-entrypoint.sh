#!/bin/bash
# Entrypoint of the ferrozk image. It does what the official `zookeeper` image's
# docker-entrypoint.sh does (github.com/31z4/zookeeper-docker), so that the same
# environment variables and compose files work unchanged:
#
#   * writes $ZOO_CONF_DIR/zoo.cfg from the ZOO_* variables, with the same keys in the
#     same order, but only when no zoo.cfg is there yet (a mounted zoo.cfg wins);
#   * writes $ZOO_DATA_DIR/myid from ZOO_MY_ID (default 1), only when it is missing;
#   * started as root (e.g. `docker run --user root`) to run the server, it chowns the
#     data directories and re-executes itself as the `ferrozk` user (setpriv, no gosu);
#   * `zkServer.sh start-foreground [cfg]` is run as `ferrozk serve --config <cfg>`;
#   * then it execs the command.
#
# Extras:
#   docker-entrypoint.sh healthcheck [port]
#       exits 0 when the local server answers `ruok` with `imok` (or, when ruok is not in
#       4lw.commands.whitelist, answers `srvr`). Port: the argument, else clientPort or
#       this server's `server.<myid>=...;[addr:]port` in zoo.cfg, else 2181.
#   ZOO_ENTRYPOINT_DRY_RUN=1
#       write zoo.cfg and myid as usual, then print the command that would be exec'ed
#       (one line, shell-quoted) instead of running it; never chowns or switches user.
set -e

# The image sets these with ENV; the defaults here make the script usable on its own.
# `=` rather than `:=`: a variable set to the empty string stays empty, as in the
# official image (where the Dockerfile's ENV is the only default).
: "${ZOO_CONF_DIR=/conf}"
: "${ZOO_DATA_DIR=/data}"
: "${ZOO_DATA_LOG_DIR=/datalog}"
: "${ZOO_TICK_TIME=2000}"
: "${ZOO_INIT_LIMIT=5}"
: "${ZOO_SYNC_LIMIT=2}"
: "${ZOO_AUTOPURGE_PURGEINTERVAL=0}"
: "${ZOO_AUTOPURGE_SNAPRETAINCOUNT=3}"
: "${ZOO_MAX_CLIENT_CNXNS=60}"
: "${ZOO_STANDALONE_ENABLED=true}"
: "${ZOO_ADMINSERVER_ENABLED=true}"
# ZOO_4LW_COMMANDS_WHITELIST has no default, as in the official image: unset, no
# 4lw.commands.whitelist line is written and the server's own default (srvr) applies.

FERROZK_USER="${FERROZK_USER:-ferrozk}"
CONFIG="$ZOO_CONF_DIR/zoo.cfg"

dry_run() {
    case "${ZOO_ENTRYPOINT_DRY_RUN:-}" in
        1|true|yes) return 0 ;;
        *) return 1 ;;
    esac
}

# --------------------------------------------------------------------------- healthcheck
# The client port this server listens on, from zoo.cfg: clientPort, else the client part
# of its own server.<myid> line, else 2181. Prints "host port".
client_endpoint() {
    local host=127.0.0.1 port="" myid="" line value client
    if [[ -f "$ZOO_DATA_DIR/myid" ]]; then
        read -r myid < "$ZOO_DATA_DIR/myid" || true
    fi
    if [[ -r "$CONFIG" ]]; then
        while IFS= read -r line || [[ -n "$line" ]]; do
            line="${line%$'\r'}"
            case "$line" in
                clientPort=*|clientPort\ *) value="${line#clientPort}"; value="${value#*=}"
                    port="${value//[[:space:]]/}" ;;
                "server.$myid="*)
                    value="${line#*=}"
                    if [[ -z "$port" && "$value" == *";"* ]]; then
                        client="${value#*;}"
                        client="${client//[[:space:]]/}"
                        if [[ "$client" == *:* ]]; then
                            port="${client##*:}"
                            case "${client%:*}" in
                                ""|0.0.0.0|"[::]"|::) ;;
                                *) host="${client%:*}"; host="${host#[}"; host="${host%]}" ;;
                            esac
                        else
                            port="$client"
                        fi
                    fi ;;
            esac
        done < "$CONFIG"
    fi
    echo "$host ${port:-2181}"
}

# Sends a four-letter word and prints the answer (bash's /dev/tcp, bounded by timeout).
four_letter() {
    timeout "${ZOO_HEALTHCHECK_TIMEOUT:-5}" bash -c \
        'exec 3<>"/dev/tcp/$1/$2" && printf %s "$3" >&3 && cat <&3' _ "$1" "$2" "$3" 2>/dev/null
}

healthcheck() {
    local host port answer
    read -r host port < <(client_endpoint)
    if [[ -n "${1:-}" ]]; then port="$1"; fi
    answer="$(four_letter "$host" "$port" ruok || true)"
    if [[ "$answer" == imok ]]; then
        return 0
    fi
    if [[ "$answer" == *"not in the whitelist"* ]]; then
        answer="$(four_letter "$host" "$port" srvr || true)"
        if [[ "$answer" == "Zookeeper version:"* ]]; then
            return 0
        fi
    fi
    echo "unhealthy: $host:$port answered ${answer:-nothing}" >&2
    return 1
}

if [[ "$1" == healthcheck ]]; then
    shift
    healthcheck "$@"
    exit $?
fi

# --------------------------------------------------------------- zkServer.sh compatibility
# `command: zkServer.sh start-foreground` from a zookeeper compose file runs the server.
if [[ "$1" == zkServer.sh || "$1" == */zkServer.sh ]]; then
    case "${2:-start-foreground}" in
        start-foreground|start|restart) ;;
        *) echo "docker-entrypoint.sh: zkServer.sh $2 is not supported in the ferrozk image" \
                "(use: zkServer.sh start-foreground [zoo.cfg], or ferrozk serve --config FILE)" >&2
           exit 2 ;;
    esac
    if [[ -n "${3:-}" ]]; then
        # zkServer.sh takes the config file name relative to the config directory.
        if [[ "$3" == /* ]]; then CONFIG="$3"; else CONFIG="$ZOO_CONF_DIR/$3"; fi
    fi
    set -- ferrozk serve --config "$CONFIG"
fi

is_server_command() {
    [[ "$1" == ferrozk || "$1" == */ferrozk ]] && [[ "${2:-}" == serve ]]
}

# ------------------------------------------------------------------------- root → ferrozk
# Allow the container to be started with `--user root` (or as root in general): fix the
# ownership of the data directories, then run the server as the ferrozk user.
if ! dry_run && is_server_command "$@" && [[ "$(id -u)" == 0 ]] && id -u "$FERROZK_USER" >/dev/null 2>&1; then
    mkdir -p "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR"
    chown -R "$FERROZK_USER:" "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR"
    # The config directory only needs to be writable when zoo.cfg is generated; a
    # read-only mount stays as it is.
    if [[ ! -f "$ZOO_CONF_DIR/zoo.cfg" ]]; then
        mkdir -p "$ZOO_CONF_DIR"
        chown "$FERROZK_USER:" "$ZOO_CONF_DIR" 2>/dev/null || true
    fi
    exec setpriv --reuid="$(id -u "$FERROZK_USER")" --regid="$(id -g "$FERROZK_USER")" \
        --init-groups "$0" "$@"
fi

# ------------------------------------------------------------------------------ zoo.cfg
# Generate the config only if it doesn't exist: the same lines, in the same order, as the
# official image.
mkdir -p "$ZOO_CONF_DIR" "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR" 2>/dev/null || true
if [[ ! -f "$ZOO_CONF_DIR/zoo.cfg" ]]; then
    GENERATED="$ZOO_CONF_DIR/zoo.cfg"
    {
        echo "dataDir=$ZOO_DATA_DIR"
        echo "dataLogDir=$ZOO_DATA_LOG_DIR"

        echo "tickTime=$ZOO_TICK_TIME"
        echo "initLimit=$ZOO_INIT_LIMIT"
        echo "syncLimit=$ZOO_SYNC_LIMIT"

        echo "autopurge.snapRetainCount=$ZOO_AUTOPURGE_SNAPRETAINCOUNT"
        echo "autopurge.purgeInterval=$ZOO_AUTOPURGE_PURGEINTERVAL"
        echo "maxClientCnxns=$ZOO_MAX_CLIENT_CNXNS"
        echo "standaloneEnabled=$ZOO_STANDALONE_ENABLED"
        echo "admin.enableServer=$ZOO_ADMINSERVER_ENABLED"
    } >> "$GENERATED"
    if [[ -z $ZOO_SERVERS ]]; then
        ZOO_SERVERS="server.1=localhost:2888:3888;2181"
    fi

    # Split on whitespace, as the official image does, but never glob (a `*` in an
    # entry such as 4lw.commands.whitelist=* stays a `*`).
    set -f
    for server in $ZOO_SERVERS; do
        echo "$server" >> "$GENERATED"
    done

    if [[ -n $ZOO_4LW_COMMANDS_WHITELIST ]]; then
        echo "4lw.commands.whitelist=$ZOO_4LW_COMMANDS_WHITELIST" >> "$GENERATED"
    fi

    for cfg_extra_entry in $ZOO_CFG_EXTRA; do
        echo "$cfg_extra_entry" >> "$GENERATED"
    done
    set +f
fi

# Write myid only if it doesn't exist
if [[ ! -f "$ZOO_DATA_DIR/myid" ]]; then
    echo "${ZOO_MY_ID:-1}" > "$ZOO_DATA_DIR/myid"
fi

if dry_run; then
    if [[ $# -gt 0 ]]; then
        printf '%q' "$1"
        shift
        if [[ $# -gt 0 ]]; then printf ' %q' "$@"; fi
    fi
    printf '\n'
    exit 0
fi

exec "$@"
