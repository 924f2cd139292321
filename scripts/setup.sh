#!/usr/bin/env bash
# Create .venv with Python 3.11, 3.12 or 3.13 and install the pinned dependencies.
# Usage: scripts/setup.sh [extra]   (no extra: the client only, `uhs`; "server": also
# the server, `uhs-server`, and the web application it serves at /app/, built from the
# npm packages pinned in web/package-lock.json; "dev": the server and the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

extra="${1:-}"
python="${PYTHON:-}"
if [ -z "$python" ]; then
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
    done
fi
if [ -z "$python" ]; then
    echo "Python 3.11 to 3.13 is required (apt-get install python3)" >&2
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))'; then
    echo "Python 3.11 to 3.13 is required, found $("$python" --version)" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv 2>/dev/null; then
        # Debian ships venv separately.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && apt-get install -y -qq python3-venv
        else
            echo "Install python3-venv (sudo apt-get install python3-venv) and retry" >&2
            exit 1
        fi
        rm -rf .venv
        "$python" -m venv .venv
    fi
fi

case "$extra" in
    dev) bash scripts/system-packages.sh ;;
    server) bash scripts/system-packages.sh web ;;
esac

target=".${extra:+[$extra]}"
stamp=".venv/.installed${extra:+-$extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
    touch "$stamp"
fi

if [ "$extra" = dev ] || [ "$extra" = server ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "Node.js 20 and npm are required for the web application (apt-get install nodejs npm)" >&2
        exit 1
    fi
    # npm ci empties node_modules first, so the stamp inside it goes with a stale install.
    web_stamp=web/node_modules/.installed
    if [ ! -f "$web_stamp" ] || [ web/package-lock.json -nt "$web_stamp" ]; then
        npm ci --prefix web --no-audit --no-fund --loglevel=error
        touch "$web_stamp"
    fi
    # The content-hashed files `uhs-server serve` serves at /app/ (and the wheel ships):
    # built each time, in a few seconds, so they always match the sources.
    npm run --silent build --prefix web
fi
