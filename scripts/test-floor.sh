#!/usr/bin/env bash
# The tests on the lowest Airflow the package declares (requirements/lock-floor.txt), in a second venv,
# .venv-floor; scripts/test.sh runs this last. The standalone (topology included), UI and soak tests run on
# the main lock only (the soak's dag.test() runs take 4x as long on 3.2: ~3 min).
# Extra pytest arguments pass through: bash scripts/test-floor.sh tests/unit -x
set -euo pipefail
cd "$(dirname "$0")/.."
BIFROST_VENV="$PWD/.venv-floor"
BIFROST_LOCK="$PWD/requirements/lock-floor.txt"
source scripts/bootstrap.sh
echo "==> pytest on Airflow $(sed -n 's/^apache-airflow==\([^ ]*\).*/\1/p' "$BIFROST_LOCK") (floor)"
# Its own AIRFLOW_HOME (tests/conftest.py makes a fresh one): never a database migrated by a newer Airflow.
exec env -u AIRFLOW_HOME pytest -m "not standalone and not topology and not ui and not soak" -p no:cacheprovider "$@"
