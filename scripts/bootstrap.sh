# Create (or refresh) .venv with the pinned dependency set; sourced by the demo and test scripts.
# BIFROST_VENV and BIFROST_LOCK choose another venv and lock (the floor run: .venv-floor, lock-floor.txt).
# Needs only Python 3.10+ and network access to PyPI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BIFROST_VENV:-$ROOT/.venv}"
LOCK="${BIFROST_LOCK:-$ROOT/requirements/lock.txt}"
UV_VERSION="0.13.9"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/uv" --version 2>/dev/null | grep -q "$UV_VERSION"; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
# Bytecode is compiled at install time: imports then skip compiling Airflow's ~2,000 modules in every
# process (and PYTHONDONTWRITEBYTECODE, if set, would otherwise make each process compile them again).
STAMP="$VENV/.installed-lock.sha256"
WANT="$(sha256sum "$LOCK" | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    echo "==> installing pinned dependencies (${LOCK#"$ROOT/"}) into ${VENV#"$ROOT/"}"
    "$VENV/bin/uv" pip sync --quiet --compile-bytecode --python "$VENV/bin/python" "$LOCK"
    echo "$WANT" >"$STAMP"
fi
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e "$ROOT"
export PATH="$VENV/bin:$PATH"
