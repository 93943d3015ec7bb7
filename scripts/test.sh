#!/usr/bin/env bash
# scripts/test.sh — THE test command (README shows it, .ci/run calls it).
#
#   scripts/test.sh                      # go vet ./... && go test -race ./...
#   scripts/test.sh -run TestX ./models/ # extra args go to go test; packages
#                                        # given replace ./... (for vet too)
#
# It finds or starts what the tests need, prints what it uses, then runs
# go vet and go test -race -count=1 -timeout 25m.
#
# Postgres, first that works:
#   1. DATABASE_URL, if set (must answer).
#   2. 127.0.0.1:5432, as postgres://postgres@127.0.0.1:5432/postgres (trust auth).
#   3. As root: an installed Debian cluster that is stopped, started with
#      pg_ctlcluster, then 2 again.
#   4. A throwaway server from the local binaries (/usr/lib/postgresql/*/bin),
#      in a temp dir on a free port with trust auth, stopped and deleted on exit.
#      As root with no binaries, apt-get installs postgresql first.
# Redis: each test package starts its own redis-server (jobs/jobstest), so this
#   only makes sure the binary exists (as root, apt-get installs redis-server).
#   REDIS_URL is passed through unchanged if set.
# Chromium: browser tests need /usr/bin/chromium; as root, apt-get installs it.
#   Without it those tests skip with a reason.
#
# Environment knobs:
#   DATABASE_URL                  use this Postgres (step 1)
#   REDIS_URL                     exported unchanged (nothing reads it yet)
#   DOORSTEP_SKIP_CHROMIUM=1      don't install Chromium
#   DOORSTEP_TEST_THROWAWAY_PG=1  skip steps 1-3 and always start a throwaway
#                                 Postgres: exercises step 4 on a machine that
#                                 has a running server
#   DOORSTEP_TEST_SETUP_ONLY=1    set up services, print, run a psql check,
#                                 but don't run go vet/test (tests this script)
#
# Sourcing the file (`source scripts/test.sh`) defines the functions without
# running main, so one step can be tried on its own, e.g.
#   bash -c 'source scripts/test.sh; DOORSTEP_TEST_THROWAWAY_PG=1 setup_postgres'
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [[ "$(id -u)" == 0 ]]; }

# mask_url hides a password in a URL: postgres://u:secret@h -> postgres://u:***@h
mask_url() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

# tcp_up HOST PORT: true if something accepts a TCP connection.
tcp_up() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

_apt_updated=0
# apt_install PKG...: installs Debian packages as root; false otherwise.
# Output goes to a log, shown only when apt-get fails.
apt_install() {
  is_root && command -v apt-get >/dev/null || return 1
  local aptlog
  aptlog=$(mktemp "${TMPDIR:-/tmp}/doorstep-apt.XXXXXX")
  if [[ "$_apt_updated" == 0 ]]; then
    log "apt-get update"
    apt-get update >"$aptlog" 2>&1 || { tail -n 20 "$aptlog" >&2; rm -f "$aptlog"; return 1; }
    _apt_updated=1
  fi
  log "apt-get install -y $* (this can take a few minutes)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >"$aptlog" 2>&1 ||
    { tail -n 30 "$aptlog" >&2; rm -f "$aptlog"; return 1; }
  rm -f "$aptlog"
}

# ---------------------------------------------------------------- Postgres

PG_DESC=""          # what we use, for the summary
PG_TMP=""           # throwaway server's dir (empty unless we started one)
PG_TMP_BIN=""
PG_TMP_USER=""

# pg_answers URL: true if URL accepts a query (or, without psql, if the
# server answers pg_isready / the port accepts connections).
pg_answers() {
  local url=$1
  if command -v psql >/dev/null; then
    PGCONNECT_TIMEOUT=5 psql "$url" -Atqc 'select 1' >/dev/null 2>&1
  elif command -v pg_isready >/dev/null; then
    pg_isready -q -t 5 -d "$url"
  else
    tcp_up 127.0.0.1 5432
  fi
}

# wait_pg URL SECONDS: poll pg_answers.
wait_pg() {
  local url=$1 secs=$2 i
  for ((i = 0; i < secs * 4; i++)); do
    pg_answers "$url" && return 0
    sleep 0.25
  done
  return 1
}

local_pg_url() { echo "postgres://postgres@127.0.0.1:${1:-5432}/postgres?sslmode=disable"; }

# pg_bin_dir: directory with initdb and pg_ctl (newest Debian version first).
pg_bin_dir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

# as_pg_user CMD ARGS...: runs as the throwaway server's owner (initdb and
# postgres refuse to run as root).
as_pg_user() {
  if [[ -z "$PG_TMP_USER" ]]; then
    "$@"
  elif command -v runuser >/dev/null; then
    runuser -u "$PG_TMP_USER" -- "$@"
  else
    su "$PG_TMP_USER" -s /bin/sh -c "$(printf '%q ' "$@")"
  fi
}

stop_throwaway_pg() {
  [[ -n "$PG_TMP" ]] || return 0
  if [[ -f "$PG_TMP/data/postmaster.pid" ]]; then
    log "stopping throwaway Postgres ($PG_TMP)"
    as_pg_user "$PG_TMP_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_TMP"
  PG_TMP=""
}

start_throwaway_pg() {
  local bin
  if ! bin=$(pg_bin_dir); then
    apt_install postgresql || die "no PostgreSQL: set DATABASE_URL, or install PostgreSQL (initdb/pg_ctl), or run as root so this script can apt-get install postgresql"
    bin=$(pg_bin_dir) || die "postgresql installed but initdb/pg_ctl not found under /usr/lib/postgresql/*/bin"
  fi
  PG_TMP_BIN=$bin

  if is_root; then
    if id postgres >/dev/null 2>&1; then PG_TMP_USER=postgres; else PG_TMP_USER=nobody; fi
    # Under /tmp, not $TMPDIR: the owner must be able to reach the dir.
    PG_TMP=$(mktemp -d /tmp/doorstep-pg.XXXXXX)
    chown "$PG_TMP_USER" "$PG_TMP"
  else
    PG_TMP_USER=""
    PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/doorstep-pg.XXXXXX")
  fi
  trap stop_throwaway_pg EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  log "initdb in $PG_TMP (bin $bin${PG_TMP_USER:+, as $PG_TMP_USER})"
  as_pg_user "$bin/initdb" -D "$PG_TMP/data" -U postgres --auth=trust --no-sync \
    --encoding=UTF8 --no-locale >"$PG_TMP/initdb.log" 2>&1 ||
    { cat "$PG_TMP/initdb.log" >&2; die "initdb failed"; }

  # A port nobody listens on now; another process may still take it before
  # the server binds, so try a few.
  local try port
  for try in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 30000))
    tcp_up 127.0.0.1 "$port" && continue
    if as_pg_user "$bin/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
      -o "-p $port -k $PG_TMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null 2>&1; then
      DATABASE_URL=$(local_pg_url "$port")
      wait_pg "$DATABASE_URL" 20 || { cat "$PG_TMP/server.log" >&2; die "throwaway Postgres on :$port started but does not answer"; }
      PG_DESC="throwaway Postgres $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data $PG_TMP, removed on exit)"
      return 0
    fi
    tail -n 5 "$PG_TMP/server.log" >&2 || true
  done
  die "could not start a throwaway Postgres (log: $PG_TMP/server.log)"
}

# start_local_cluster: as root, start an installed-but-stopped Debian cluster.
start_local_cluster() {
  is_root && command -v pg_ctlcluster >/dev/null || return 1
  local ver
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$ver" && -d "/etc/postgresql/$ver/main" ]] || return 1
  log "starting PostgreSQL cluster $ver/main (pg_ctlcluster)"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 || return 1
  wait_pg "$(local_pg_url)" 30
}

setup_postgres() {
  if [[ "${DOORSTEP_TEST_THROWAWAY_PG:-}" == 1 ]]; then
    log "DOORSTEP_TEST_THROWAWAY_PG=1: ignoring DATABASE_URL and local servers"
    start_throwaway_pg
  elif [[ -n "${DATABASE_URL:-}" ]]; then
    wait_pg "$DATABASE_URL" 10 || die "DATABASE_URL=$(mask_url "$DATABASE_URL") does not answer"
    PG_DESC="DATABASE_URL from the environment"
  elif wait_pg "$(local_pg_url)" 1; then
    DATABASE_URL=$(local_pg_url)
    PG_DESC="local server on 127.0.0.1:5432"
  elif start_local_cluster; then
    DATABASE_URL=$(local_pg_url)
    PG_DESC="local cluster on 127.0.0.1:5432 (started by this script, left running)"
  else
    if tcp_up 127.0.0.1 5432; then
      warn "127.0.0.1:5432 answers but not as postgres with trust auth; starting a throwaway server instead"
    fi
    start_throwaway_pg
  fi
  export DATABASE_URL
}

# ---------------------------------------------------------------- Redis

REDIS_DESC=""
setup_redis() {
  local bin
  bin=$(command -v redis-server || true)
  [[ -n "$bin" || ! -x /usr/bin/redis-server ]] || bin=/usr/bin/redis-server
  if [[ -z "$bin" ]]; then
    if apt_install redis-server; then
      bin=$(command -v redis-server || echo /usr/bin/redis-server)
    else
      warn "redis-server not found and can't install it (not root?): tests that need Redis will fail; install Redis (apt-get install redis-server / brew install redis)"
      REDIS_DESC="redis-server MISSING"
      return 0
    fi
  fi
  REDIS_DESC="$bin ($("$bin" --version | grep -o 'v=[^ ]*')), one throwaway server per test package"
  if [[ -n "${REDIS_URL:-}" ]]; then
    export REDIS_URL
    REDIS_DESC+="; REDIS_URL=$(mask_url "$REDIS_URL") exported"
  fi
}

# ---------------------------------------------------------------- Chromium

CHROMIUM_DESC=""
setup_chromium() {
  if [[ -x /usr/bin/chromium ]]; then
    CHROMIUM_DESC="/usr/bin/chromium ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
  elif [[ "${DOORSTEP_SKIP_CHROMIUM:-}" == 1 ]]; then
    CHROMIUM_DESC="none (DOORSTEP_SKIP_CHROMIUM=1; browser tests skip)"
  elif apt_install chromium; then
    CHROMIUM_DESC="/usr/bin/chromium (installed now)"
  else
    warn "/usr/bin/chromium missing and not installed (run as root to apt-get install chromium): browser tests will skip"
    CHROMIUM_DESC="none (browser tests skip)"
  fi
}

# ---------------------------------------------------------------- main

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
    export PATH="/usr/local/go/bin:$PATH"
  fi
  command -v go >/dev/null || die "go not found in PATH (expected /usr/local/go/bin)"

  setup_postgres
  setup_redis
  setup_chromium

  # Package patterns among the args replace ./...; the rest are go test flags.
  local a pkgs=()
  for a in "$@"; do
    case "$a" in
      . | ./* | ../* | github.com/doorstep/doorstep*) pkgs+=("$a") ;;
    esac
  done
  local test_args=("$@")
  if [[ ${#pkgs[@]} == 0 ]]; then
    pkgs=(./...)
    test_args+=(./...)
  fi

  log "go:       $(go version)"
  log "Postgres: $PG_DESC: DATABASE_URL=$(mask_url "$DATABASE_URL")"
  log "Redis:    $REDIS_DESC"
  log "Chromium: $CHROMIUM_DESC"

  if [[ "${DOORSTEP_TEST_SETUP_ONLY:-}" == 1 ]]; then
    if command -v psql >/dev/null; then
      log "DOORSTEP_TEST_SETUP_ONLY=1: $(psql "$DATABASE_URL" -Atqc 'select version()')"
    fi
    log "would run: go vet ${pkgs[*]}"
    log "would run: go test -race -count=1 -timeout 25m ${test_args[*]}"
    return 0
  fi

  log "go vet ${pkgs[*]}"
  go vet "${pkgs[@]}"
  log "go test -race -count=1 -timeout 25m ${test_args[*]}"
  # Not exec: the EXIT trap must stop a throwaway Postgres afterwards.
  go test -race -count=1 -timeout 25m "${test_args[@]}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
