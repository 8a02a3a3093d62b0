# Sourced by .ci/run: a throwaway PostgreSQL server for the multi-worker storage tests.
# Installs Debian's `postgresql` if no server binaries are found (root or sudo needed), runs
# initdb + pg_ctl as an unprivileged user in a temporary directory on a free local port, creates
# the database `archscout_test`, and exports ARCHSCOUT_TEST_POSTGRES (an SQLAlchemy URL). The
# server is stopped and its directory removed when the calling shell exits. If PostgreSQL cannot be
# had, it says why and the PostgreSQL tests skip (their skip reason names the variable).

_pg_log() { echo "[ci/postgres] $*" >&2; }

_pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
    return 1
}

_pg_install() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else return 1; fi
    fi
    command -v apt-get >/dev/null 2>&1 || return 1
    _pg_log "installing the Debian package postgresql (apt-get)"
    # the package's own cluster is not used: do not create it
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        $sudo mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

_pg_start() {
    local bindir port pgdata as_user=()
    bindir=$(_pg_bindir) || { _pg_install && bindir=$(_pg_bindir); } || {
        _pg_log "no PostgreSQL server and no way to install one: PostgreSQL tests will skip"; return 0; }
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    pgdata=$(mktemp -d "${TMPDIR:-/tmp}/archscout-pg.XXXXXX")
    if [ "$(id -u)" = 0 ]; then  # the server refuses to run as root
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown postgres "$pgdata"
        as_user=(runuser -u postgres --)
    fi
    _PG_STOP="${as_user[*]} $bindir/pg_ctl -D $pgdata/data -m immediate stop"
    _PG_DIR="$pgdata"
    trap '$_PG_STOP >/dev/null 2>&1; rm -rf "$_PG_DIR"' EXIT
    "${as_user[@]}" "$bindir/initdb" -D "$pgdata/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null || {
        _pg_log "initdb failed: PostgreSQL tests will skip"; return 0; }
    "${as_user[@]}" "$bindir/pg_ctl" -D "$pgdata/data" -l "$pgdata/server.log" -w -t 60 \
        -o "-p $port -k $pgdata -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null || {
        _pg_log "the server did not start: PostgreSQL tests will skip"; cat "$pgdata/server.log" >&2; return 0; }
    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres archscout_test || {
        _pg_log "createdb failed: PostgreSQL tests will skip"; return 0; }
    export ARCHSCOUT_TEST_POSTGRES="postgresql+psycopg2://postgres@127.0.0.1:$port/archscout_test"
    _pg_log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on port $port: ARCHSCOUT_TEST_POSTGRES=$ARCHSCOUT_TEST_POSTGRES"
}

_pg_start
