#!/usr/bin/env bash
# Tianmu — idempotent installer for a fresh Debian 12 (bookworm) machine.
#
# Installs, from the Debian archive, only the packages that are missing:
# the ClickHouse server/client, Hyperscan headers for the `hyperscan` crate,
# and the real database clients and drivers used by tests and benchmarks;
# then, from PyPI, the psycopg 3 driver when python3 cannot import it.
#
# Debian postinst scripts normally start services (clickhouse-server does so
# via invoke-rc.d). This installer never starts anything: for the duration of
# the apt-get run it installs a policy-rc.d that forbids every start (exit
# code 101), and restores whatever was there before when it exits.
# Services are started by the project's own scripts (e.g. deploy/clickhouse.sh).
#
# Usage: deploy/install.sh            (as root, or as a user with sudo)
# Safe to run any number of times; it does nothing when everything is present.

set -euo pipefail

# Packages the project needs. Notes:
# - pgbench: /usr/bin/pgbench is the pg_wrapper symlink from
#   postgresql-client-common; the binary /usr/lib/postgresql/15/bin/pgbench is
#   shipped by the *server* package postgresql-15 on bookworm (postgresql-contrib
#   is only a metapackage depending on postgresql-contrib-15, which postgresql-15
#   provides). So postgresql-15 is what brings pgbench.
# - psql comes with postgresql-client (-> postgresql-client-15).
# - mariadb comes with mariadb-client.
# - libpostgresql-jdbc-java puts the PostgreSQL JDBC driver at
#   /usr/share/java/postgresql.jar; openjdk-17-jdk-headless brings java + javac
#   (tests/firewall_drivers.rs compiles and runs a JDBC program through the firewall).
# - libmariadb-java puts the MariaDB JDBC driver at /usr/share/java/mariadb-java-client.jar
#   and python3-pymysql is PyMySQL for Debian's /usr/bin/python3 (tests/firewall_mysql.rs
#   runs both through the MySQL firewall).
# - socat is the relay that does nothing in benches/mysql_proxy.sh: what any proxy costs
#   on the machine, next to what the firewall costs.
# - python3-pip: pip for the psycopg 3 install of step 4.
# - chromium renders `tianmu report --format html` headless in tests/report.rs (a
#   screenshot and an A4 PDF); fonts-noto-cjk gives it the Chinese glyphs the report is
#   written in (without a CJK font every character prints as a box).
# - tmux runs the console in a detached session that tests/console_tmux.rs drives with
#   keystrokes (send-keys) and reads back (capture-pane).
PACKAGES=(
    clickhouse-server
    clickhouse-client
    libhyperscan-dev
    pkg-config
    postgresql-client
    postgresql-15
    mariadb-client
    sysbench
    pgbouncer
    socat
    curl
    ca-certificates
    libpostgresql-jdbc-java
    openjdk-17-jdk-headless
    python3-pip
    libmariadb-java
    python3-pymysql
    chromium
    fonts-noto-cjk
    tmux
)

POLICY_RC=/usr/sbin/policy-rc.d

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: ERROR: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "not root and sudo is not available; re-run as root"
    fi
}

# True when the Debian package named $1 is fully installed.
is_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
    [ "$status" = "install ok installed" ]
}

# policy-rc.d handling: keep a backup of an existing file and put it back on exit.
POLICY_BACKUP=""
POLICY_INSTALLED=0
restore_policy() {
    if [ "$POLICY_INSTALLED" -eq 1 ]; then
        if [ -n "$POLICY_BACKUP" ]; then
            as_root mv -f "$POLICY_BACKUP" "$POLICY_RC"
            say "restored the previous $POLICY_RC"
        else
            as_root rm -f "$POLICY_RC"
            say "removed temporary $POLICY_RC"
        fi
        POLICY_INSTALLED=0
    fi
}
forbid_service_starts() {
    if [ -e "$POLICY_RC" ]; then
        POLICY_BACKUP="$POLICY_RC.tianmu-backup.$$"
        as_root cp -p "$POLICY_RC" "$POLICY_BACKUP"
    fi
    POLICY_INSTALLED=1
    trap restore_policy EXIT
    # 101 = "action forbidden by policy": invoke-rc.d then skips the start and
    # the package's postinst still succeeds.
    printf '#!/bin/sh\n# temporary, written by tianmu deploy/install.sh\nexit 101\n' \
        | as_root tee "$POLICY_RC" >/dev/null
    as_root chmod 0755 "$POLICY_RC"
    say "service starts forbidden during install ($POLICY_RC)"
}

# --- step 1: platform --------------------------------------------------------
for tool in dpkg-query apt-get; do
    command -v "$tool" >/dev/null 2>&1 \
        || die "this installer needs a Debian system ($tool not found)"
done
if [ -r /etc/debian_version ]; then
    say "platform: Debian $(cat /etc/debian_version), $(uname -m)"
fi
if [ "$(uname -m)" != "x86_64" ]; then
    say "warning: libhyperscan-dev is x86-64 only; on $(uname -m) use libvectorscan-dev"
fi

# --- step 2: which packages are missing --------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
    if is_installed "$pkg"; then
        say "package $pkg: already installed"
    else
        say "package $pkg: missing"
        missing+=("$pkg")
    fi
done

# --- step 3: install the missing ones ----------------------------------------
if [ "${#missing[@]}" -eq 0 ]; then
    say "all packages present; nothing to install"
else
    forbid_service_starts
    export DEBIAN_FRONTEND=noninteractive
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    say "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}"
    restore_policy
    trap - EXIT
    for pkg in "${missing[@]}"; do
        is_installed "$pkg" || die "package $pkg is still not installed"
    done
    say "installed: ${missing[*]}"
fi

# --- step 4: psycopg 3 (a real Python driver, from PyPI) ----------------------
# tests/firewall_drivers.rs runs tests/drivers/psycopg_check.py with the same
# interpreter: $TIANMU_PYTHON, or python3 on PATH.
PYTHON=${TIANMU_PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (set TIANMU_PYTHON)"
if "$PYTHON" -c 'import psycopg' >/dev/null 2>&1; then
    say "psycopg: already installed ($("$PYTHON" -c 'import psycopg; print(psycopg.__version__)'))"
else
    pip_args=()
    # Debian's own python3 (not a venv of it) is externally managed (PEP 668):
    # install for this user only, never into /usr.
    if "$PYTHON" -c 'import os, sys, sysconfig; sys.exit(sys.prefix != sys.base_prefix or not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'; then
        pip_args=(--user --break-system-packages)
    fi
    say "pip install psycopg[binary] (${pip_args[*]:-into $("$PYTHON" -c 'import sys; print(sys.prefix)')})"
    "$PYTHON" -m pip install -q "${pip_args[@]}" 'psycopg[binary]'
    "$PYTHON" -c 'import psycopg' || die "psycopg is still not importable by $PYTHON"
    say "psycopg: $("$PYTHON" -c 'import psycopg; print(psycopg.__version__)')"
fi

# --- step 5: Rust toolchain ---------------------------------------------------
# There is no rustup network here: the toolchain must already be present.
if command -v cargo >/dev/null 2>&1; then
    say "cargo: $(cargo --version)"
else
    die "cargo not found on PATH; install a Rust toolchain (cargo + rustc) first, e.g. from ~/.cargo/bin"
fi

# --- step 6: sanity checks of what the project uses --------------------------
for bin in clickhouse-server clickhouse-client psql pgbench mariadb sysbench curl pkg-config java javac chromium tmux; do
    # clickhouse-server lives in /usr/sbin, which a non-root PATH may lack.
    command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] \
        || die "$bin not found after install"
done
[ -r /usr/share/java/postgresql.jar ] || die "/usr/share/java/postgresql.jar not found after install"
[ -r /usr/share/java/mariadb-java-client.jar ] || die "/usr/share/java/mariadb-java-client.jar not found after install"
say "clickhouse-server: $(dpkg-query -W -f='${Version}' clickhouse-server)"
say "hyperscan (pkg-config libhs): $(pkg-config --modversion libhs)"
say "done; no service was started (use deploy/clickhouse.sh start)"
