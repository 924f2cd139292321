#!/usr/bin/env bash
# Set up and run the whole test suite: lint, strict typing of the crypto core, the web
# client's tests (strict TypeScript, the protocol vectors under Node), then pytest on three
# workers (pytest-xdist; on two cores a third of the CPU waits otherwise), each test
# module whole on one worker, so that a module's server is started once. Arguments go to pytest: `bash scripts/test.sh tests/web -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy --strict src/uhealthsec/crypto
npm test --prefix web --silent
.venv/bin/python -m pytest -n 3 --dist loadfile "$@"
