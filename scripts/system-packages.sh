#!/usr/bin/env bash
# Debian packages, installed only when missing. Usage: scripts/system-packages.sh [web]
# Always Node.js and npm (the web application is built by Vite); without "web", also
# what the test suite uses: PostgreSQL (every database test also runs on it; its client's
# pg_dump and pg_restore, in the backup drill), oathtool
# (reference TOTP codes), Chromium (the web client's tests run in it, tests/web/),
# nginx (deploy/nginx runs in front of the API in tests/server/test_nginx.py) and
# systemd-analyze (the service units in deploy/systemd are verified with it).
set -euo pipefail

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${1:-}" != web ]; then
    command -v oathtool >/dev/null 2>&1 || missing+=(oathtool)
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
    [ -x /usr/sbin/nginx ] || missing+=(nginx)
    if ! command -v pg_ctl >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
        missing+=(postgresql)
    fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The tests start their own throwaway server; the packaged one is not needed.
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        service postgresql stop >/dev/null 2>&1 || true
    fi
    # Nor the packaged nginx: the tests run their own, on loopback ports.
    if [ -x /usr/sbin/nginx ]; then
        service nginx stop >/dev/null 2>&1 || true
    fi
elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq
    sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "Install these Debian packages: ${missing[*]}" >&2
    exit 1
fi
