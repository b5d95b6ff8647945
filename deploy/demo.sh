#!/usr/bin/env bash
# Tianmu quick start, command 1: set this Debian host up and run the demo appliance on it.
#
#   bash deploy/demo.sh
#
# Installs the missing Debian packages (deploy/install.sh), builds the release binary,
# makes sure PostgreSQL, MariaDB and ClickHouse are up (a local ClickHouse under .tianmu/
# when none answers), then runs `tianmu demo -c deploy/demo/tianmu.toml` in the foreground.
# Ctrl-C stops the demo. Extra arguments go to `tianmu demo`.

set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

bash deploy/install.sh
cargo build --release --bin tianmu
# shellcheck source=deploy/services.sh
. deploy/services.sh
ensure_services "$ROOT"

exec target/release/tianmu demo -c deploy/demo/tianmu.toml "$@"
