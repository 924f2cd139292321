#!/usr/bin/env bash
# Set up and start the server with the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh server
# --init: the first start here makes var/, the data directory (never made silently).
exec .venv/bin/uhs-server serve --init --demo "$@"
