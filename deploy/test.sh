#!/usr/bin/env bash
# Tianmu quick start, command 2: set this Debian host up and run the whole test suite.
#
#   bash deploy/test.sh
#
# Installs the missing Debian packages (deploy/install.sh), makes sure PostgreSQL, MariaDB
# and ClickHouse are up (a local ClickHouse under .tianmu/ when none answers at
# 127.0.0.1:8123), then runs every test of the workspace against them. Extra arguments go
# to `cargo test` (e.g. a test name filter). CI runs exactly this (.ci/run).

set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

bash deploy/install.sh
# shellcheck source=deploy/services.sh
. deploy/services.sh
ensure_services "$ROOT"

cargo test --workspace "$@"
