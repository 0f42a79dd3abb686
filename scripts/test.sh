#!/usr/bin/env bash
# Run every check: lint, format, types, tests. Installs what it needs first (scripts/bootstrap.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
# The UI tests (tests/ui) drive Debian's Chromium: install it when it is missing and we are root (CI).
if [ ! -x "${BIFROST_CHROMIUM:-/usr/bin/chromium}" ] && [ "$(id -u)" = 0 ]; then
    echo "==> installing chromium (apt-get), for the UI tests"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
        echo "==> could not install chromium: the UI tests (tests/ui) will fail" >&2
fi
# The topology tests (tests/standalone/topology) run Debian's PostgreSQL server and Redis: install them when
# missing and we are root (CI); otherwise those tests skip, saying why.
servers=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || servers+=(postgresql)
command -v redis-server >/dev/null || servers+=(redis-server)
if [ "${#servers[@]}" -gt 0 ] && [ "$(id -u)" = 0 ]; then
    echo "==> installing ${servers[*]} (apt-get), for the topology tests"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${servers[@]}" >/dev/null; } ||
        echo "==> could not install ${servers[*]}: the topology tests (tests/standalone/topology) will fail" >&2
fi
echo "==> ruff"
ruff check .
ruff format --check .
echo "==> mypy"
mypy
echo "==> pytest"
pytest "$@"

# The same tests on the lowest Airflow the package declares (scripts/test-floor.sh); BIFROST_SKIP_FLOOR=1 skips them.
if [ "${BIFROST_SKIP_FLOOR:-}" != 1 ]; then
    bash scripts/test-floor.sh "$@"
fi
