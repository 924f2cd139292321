#!/usr/bin/env bash
# Set up and start the server with the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh server
exec .venv/bin/uhs-server serve --demo "$@"
