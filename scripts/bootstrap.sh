# Create (or refresh) .venv with the pinned dependency set; sourced by the demo and test scripts.
# Needs only Python 3.10+ and network access to PyPI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BIFROST_VENV:-$ROOT/.venv}"
UV_VERSION="0.13.9"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/uv" --version 2>/dev/null | grep -q "$UV_VERSION"; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
echo "==> installing pinned dependencies (requirements/lock.txt)"
"$VENV/bin/uv" pip sync --quiet --python "$VENV/bin/python" "$ROOT/requirements/lock.txt"
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e "$ROOT"
export PATH="$VENV/bin:$PATH"
