#!/usr/bin/env bash
# Tianmu — make sure the servers the demo and the tests talk to are up on this host:
# PostgreSQL 15 (127.0.0.1:5432), MariaDB (127.0.0.1:3306) and a ClickHouse (started under
# the project's data folder by deploy/clickhouse.sh when none answers at 127.0.0.1:8123).
# Servers that already answer are left alone. Sourced by demo.sh and test.sh.

set -euo pipefail

services_say() { printf 'services: %s\n' "$*"; }

ensure_postgres() {
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        services_say "PostgreSQL answers at 127.0.0.1:5432"
        return 0
    fi
    services_say "PostgreSQL is down; starting cluster 15/main"
    pg_ctlcluster --skip-systemctl-redirect 15 main start \
        || { services_say "ERROR: could not start PostgreSQL 15/main (pg_ctlcluster)"; return 1; }
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return 0
        sleep 1
    done
    services_say "ERROR: PostgreSQL did not answer at 127.0.0.1:5432 within 30 s"
    return 1
}

ensure_mariadb() {
    if mariadb-admin -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; then
        services_say "MariaDB answers at 127.0.0.1:3306"
        return 0
    fi
    services_say "MariaDB is down; starting mariadbd"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd \
        || { services_say "ERROR: could not start /usr/sbin/mariadbd"; return 1; }
    for _ in $(seq 1 30); do
        mariadb-admin -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1 && return 0
        sleep 1
    done
    services_say "ERROR: MariaDB did not answer at 127.0.0.1:3306 within 30 s"
    return 1
}

ensure_services() {
    local root=$1
    ensure_postgres
    ensure_mariadb
    bash "$root/deploy/clickhouse.sh" start
}
