#!/usr/bin/env bash
# Install, upgrade or roll back the TracSeq edge agent on an instrument PC (systemd, Python 3.11+). Run as root.
#
#   deploy/edge/install.sh --config my-edge.toml          # first install; safe to run again (idempotent)
#   deploy/edge/install.sh --upgrade [--package SPEC]     # stop (final flush), back up, upgrade, start, check
#   deploy/edge/install.sh --rollback                     # back to the previous venv (the log is left as it is)
#   deploy/edge/install.sh --dry-run ...                  # print what would be done, change nothing
#
# What it makes:
#   user/group tracseq-edge (system, no login; in dialout for serial devices)
#   /var/lib/tracseq-edge      0700 tracseq-edge   the data directory: log.db (SQLite, WAL), edge.key, hub.json
#   /etc/tracseq/edge.toml     0640 root:tracseq-edge   (never overwritten once there)
#   /opt/tracseq/venvs/<time>  one venv per install; /opt/tracseq/venv points at the one in use
#   /etc/systemd/system/tracseq-edge.service, enabled
#
# It never writes, moves or deletes anything in the data directory except: it sets the directory to 0700 and key
# files (*.key) and hub.json to 0600, owned by tracseq-edge. The log database is only ever read (by the backup,
# while the agent is stopped).
set -euo pipefail
umask 022

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC_DEFAULT="$(cd "$HERE/../.." && pwd)"

USER_NAME=tracseq-edge
DATA_DIR=/var/lib/tracseq-edge
CONF_DIR=/etc/tracseq
CONF_FILE=$CONF_DIR/edge.toml
PREFIX=/opt/tracseq
VENV_LINK=$PREFIX/venv
UNIT_NAME=tracseq-edge.service
UNIT_DEST=/etc/systemd/system/$UNIT_NAME
BACKUP_DIR=/var/backups/tracseq-edge
KEEP_VENVS=3

MODE=install
CONFIG_SRC=""
PACKAGE=""
PYTHON=python3
DRY_RUN=0
NO_START=0
STATUS_WAIT_S=60

usage() {
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    cat <<'EOF'
Options:
  --config FILE     the agent's configuration to install as /etc/tracseq/edge.toml (first install only)
  --package SPEC    what pip installs, with the edge extra (default: this checkout, "<repo>[edge]"),
                    e.g. ./tracseq-0.2.0-py3-none-any.whl[edge]
  --python PATH     the Python 3.11+ to build the venv with (default: python3)
  --upgrade         upgrade an installed agent
  --rollback        switch back to the previous venv and restart
  --no-start        install and enable, but do not start
  --dry-run         print the commands instead of running them
  -h, --help        this text
EOF
}

log() { printf '[tracseq-edge] %s\n' "$*"; }
die() {
    printf '[tracseq-edge] error: %s\n' "$*" >&2
    exit 1
}

# Every command that changes the machine goes through run, so --dry-run shows the plan.
run() {
    if ((DRY_RUN)); then
        printf '+ %s\n' "$*"
    else
        "$@"
    fi
}

while (($#)); do
    case "$1" in
    --config)
        CONFIG_SRC="${2:?--config needs a file}"
        shift 2
        ;;
    --package)
        PACKAGE="${2:?--package needs a pip requirement}"
        shift 2
        ;;
    --python)
        PYTHON="${2:?--python needs a path}"
        shift 2
        ;;
    --upgrade)
        MODE=upgrade
        shift
        ;;
    --rollback)
        MODE=rollback
        shift
        ;;
    --no-start)
        NO_START=1
        shift
        ;;
    --dry-run)
        DRY_RUN=1
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
done

if [[ -z "$PACKAGE" ]]; then
    [[ -f "$SRC_DEFAULT/pyproject.toml" ]] || die "no --package given and no checkout at $SRC_DEFAULT"
    PACKAGE="${SRC_DEFAULT}[edge]"
fi

preflight() {
    if ((!DRY_RUN)) && [[ $EUID -ne 0 ]]; then
        die "run as root (it creates a system user and a systemd unit)"
    fi
    if ((!DRY_RUN)); then
        command -v systemctl >/dev/null || die "systemd is required (systemctl not found)"
    fi
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
        die "$PYTHON is older than Python 3.11"
    if [[ -n "$CONFIG_SRC" && ! -f "$CONFIG_SRC" ]]; then
        die "no configuration file at $CONFIG_SRC"
    fi
}

ensure_user() {
    if ! getent group "$USER_NAME" >/dev/null; then
        run groupadd --system "$USER_NAME"
    fi
    if ! getent passwd "$USER_NAME" >/dev/null; then
        run useradd --system --gid "$USER_NAME" --home-dir "$DATA_DIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "TracSeq edge agent" "$USER_NAME"
    fi
    if getent group dialout >/dev/null; then
        run usermod --append --groups dialout "$USER_NAME"
    fi
}

ensure_dirs() {
    run install -d -m 0700 -o "$USER_NAME" -g "$USER_NAME" "$DATA_DIR"
    run chmod 0700 "$DATA_DIR" # an existing directory too
    run install -d -m 0755 -o root -g root "$CONF_DIR" "$PREFIX" "$PREFIX/venvs"
    run install -d -m 0700 -o root -g root "$BACKUP_DIR"
}

ensure_config() {
    if [[ -e "$CONF_FILE" ]]; then
        log "keeping the existing $CONF_FILE"
    elif [[ -n "$CONFIG_SRC" ]]; then
        run install -m 0640 -o root -g "$USER_NAME" "$CONFIG_SRC" "$CONF_FILE"
    else
        log "no configuration: writing a template to $CONF_FILE; edit it (edge id, devices), then start the agent"
        if ((DRY_RUN)); then
            printf '+ write template %s\n' "$CONF_FILE"
        else
            cat >"$CONF_FILE" <<EOF
# The TracSeq edge agent's configuration (see deploy/edge/freezer-host.example.toml for devices and alarms).
# Choose the edge id before the first start: it names the log's origin, which cannot change afterwards.
[edge]
id = "$(hostname -s | tr '[:upper:]_' '[:lower:]-')"
data_dir = "$DATA_DIR"
key_file = "edge.key"
EOF
        fi
        NO_START=1
    fi
    run chown root:"$USER_NAME" "$CONF_FILE"
    run chmod 0640 "$CONF_FILE"
    if ((!DRY_RUN)) && ! grep -Eq "^[[:space:]]*data_dir[[:space:]]*=[[:space:]]*\"$DATA_DIR/?\"" "$CONF_FILE"; then
        log "warning: $CONF_FILE should set data_dir = \"$DATA_DIR\" (the unit lets the agent write only there)"
    fi
}

# Key files and device credentials: 0600, the agent's own. Nothing else in the data directory is touched.
fix_key_permissions() {
    local file
    shopt -s nullglob
    for file in "$DATA_DIR"/*.key "$DATA_DIR"/*.key.retired-* "$DATA_DIR"/hub.json; do
        [[ -e "$file" ]] || continue
        run chown "$USER_NAME:$USER_NAME" "$file"
        run chmod 0600 "$file"
    done
    shopt -u nullglob
}

# A new venv per install, switched in atomically through the $VENV_LINK symlink (venvs cannot be moved).
install_package() {
    local stamp new
    stamp="$(date -u +%Y%m%dT%H%M%SZ)"
    new="$PREFIX/venvs/$stamp"
    log "installing $PACKAGE into $new"
    run "$PYTHON" -m venv "$new"
    run "$new/bin/pip" install --quiet --upgrade pip
    run "$new/bin/pip" install --quiet "$PACKAGE"
    run "$new/bin/tracseq" edge --help >/dev/null
    run ln -sfn "$new" "$VENV_LINK.tmp"
    run mv -Tf "$VENV_LINK.tmp" "$VENV_LINK"
    prune_venvs
}

prune_venvs() {
    local current old
    ((DRY_RUN)) && return 0
    current="$(readlink -f "$VENV_LINK")"
    # newest first; keep $KEEP_VENVS, never the one in use
    while read -r old; do
        [[ "$old" == "$current" ]] && continue
        run rm -rf -- "$old"
    done < <(find "$PREFIX/venvs" -mindepth 1 -maxdepth 1 -type d | sort -r | tail -n +$((KEEP_VENVS + 1)))
}

install_unit() {
    run install -m 0644 -o root -g root "$HERE/$UNIT_NAME" "$UNIT_DEST"
    if [[ -f "$SRC_DEFAULT/docs/OPERATIONS.md" ]]; then
        run install -m 0644 "$SRC_DEFAULT/docs/OPERATIONS.md" "$PREFIX/OPERATIONS.md"
    fi
    run systemctl daemon-reload
    run systemctl enable "$UNIT_NAME"
}

check_config() {
    log "checking $CONF_FILE as $USER_NAME"
    run runuser -u "$USER_NAME" -- "$VENV_LINK/bin/python" -c \
        'import sys; from pathlib import Path; from edge.config import load_config; load_config(Path(sys.argv[1]))' \
        "$CONF_FILE"
}

# SIGTERM: the agent finishes in-flight polls, flushes and signs a final checkpoint (TimeoutStopSec in the unit).
stop_agent() {
    if ((DRY_RUN)) || systemctl is-active --quiet "$UNIT_NAME"; then
        log "stopping the agent (final flush and checkpoint)"
        run systemctl stop "$UNIT_NAME"
        if ((!DRY_RUN)) && [[ "$(systemctl show -p Result --value "$UNIT_NAME")" != success ]]; then
            log "warning: the agent did not stop cleanly ($(systemctl show -p Result --value "$UNIT_NAME")); its log is" \
                "crash-safe and is checked at the next start"
        fi
    fi
}

# Only while the agent is stopped: the SQLite database and its -wal file are then consistent on disk.
backup_data() {
    local out
    out="$BACKUP_DIR/tracseq-edge-$(date -u +%Y%m%dT%H%M%SZ).tar.gz"
    log "backing up $DATA_DIR to $out"
    run tar --create --gzip --preserve-permissions --numeric-owner --file "$out" \
        --directory "$(dirname "$DATA_DIR")" "$(basename "$DATA_DIR")"
    run chmod 0600 "$out"
}

start_and_check() {
    if ((NO_START)); then
        log "not starting: run 'systemctl start $UNIT_NAME' when the configuration is ready"
        return 0
    fi
    run systemctl start "$UNIT_NAME"
    ((DRY_RUN)) && {
        printf '+ %s edge status --config %s\n' "$VENV_LINK/bin/tracseq" "$CONF_FILE"
        return 0
    }
    local waited=0
    while ((waited < STATUS_WAIT_S)); do
        if runuser -u "$USER_NAME" -- "$VENV_LINK/bin/tracseq" edge status --config "$CONF_FILE" --json 2>/dev/null |
            "$VENV_LINK/bin/python" -c 'import json, sys; sys.exit(0 if json.load(sys.stdin).get("running") else 1)'; then
            runuser -u "$USER_NAME" -- "$VENV_LINK/bin/tracseq" edge status --config "$CONF_FILE"
            log "the agent is running"
            return 0
        fi
        sleep 2
        waited=$((waited + 2))
    done
    systemctl --no-pager status "$UNIT_NAME" || true
    die "the agent is not running after ${STATUS_WAIT_S}s: journalctl -u $UNIT_NAME; to go back: $0 --rollback"
}

do_install() {
    preflight
    ensure_user
    ensure_dirs
    ensure_config
    if [[ -L "$VENV_LINK" && -x "$VENV_LINK/bin/tracseq" ]]; then
        log "already installed ($(readlink "$VENV_LINK")); use --upgrade for a new version"
    else
        install_package
    fi
    fix_key_permissions
    install_unit
    if ((NO_START)); then
        start_and_check # only says how to start
    elif ((!DRY_RUN)) && systemctl is-active --quiet "$UNIT_NAME"; then
        log "the agent is already running (a changed unit takes effect at its next restart)"
    else
        check_config
        start_and_check
    fi
}

do_upgrade() {
    preflight
    [[ -L "$VENV_LINK" ]] || ((DRY_RUN)) || die "not installed: run without --upgrade first"
    ensure_user
    ensure_dirs
    stop_agent
    backup_data
    install_package
    fix_key_permissions
    install_unit
    check_config
    start_and_check
}

do_rollback() {
    preflight
    local current previous
    current="$(readlink -f "$VENV_LINK" 2>/dev/null || true)"
    previous="$(find "$PREFIX/venvs" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort -r |
        grep -vxF -- "$current" | head -n 1 || true)"
    [[ -n "$previous" ]] || ((DRY_RUN)) || die "no previous venv in $PREFIX/venvs"
    log "rolling back from ${current:-?} to ${previous:-?} (the data directory and its log stay as they are)"
    stop_agent
    run ln -sfn "$previous" "$VENV_LINK.tmp"
    run mv -Tf "$VENV_LINK.tmp" "$VENV_LINK"
    start_and_check
}

case "$MODE" in
install) do_install ;;
upgrade) do_upgrade ;;
rollback) do_rollback ;;
esac
