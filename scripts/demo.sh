#!/usr/bin/env bash
# The main job, end to end on this machine: start the Bifrost emulator, run the full pipeline example
# (create -> wait -> export -> mapped processing -> summary) with `airflow dags test` against it, and
# show the export's manifest and the first processed results.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

DEMO="$ROOT/.demo"
mkdir -p "$DEMO"
export AIRFLOW_HOME="$DEMO/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/example_dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING
OUTPUT_URI="file://$DEMO/output"
export AIRFLOW_VAR_BIFROST_OUTPUT_URI="$OUTPUT_URI"

PORT="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
VIRTUAL_KEY="sk-bf-demo-key"
echo "==> starting the Bifrost emulator on 127.0.0.1:$PORT"
python -m airflow_provider_bifrost.testing.emulator --port "$PORT" --virtual-key "$VIRTUAL_KEY" \
    --timeline 1,2,1 --log-level warning > "$DEMO/emulator.log" 2>&1 &
EMULATOR_PID=$!
trap 'kill $EMULATOR_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    grep -q "ready at" "$DEMO/emulator.log" 2>/dev/null && break
    kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$DEMO/emulator.log"; exit 1; }
    sleep 0.1
done
export AIRFLOW_CONN_BIFROST_DEFAULT="{\"conn_type\": \"bifrost\", \"host\": \"http://127.0.0.1:$PORT\", \"password\": \"$VIRTUAL_KEY\", \"extra\": {\"default_provider\": \"openai\"}}"

echo "==> preparing the Airflow metadata database in $AIRFLOW_HOME"
airflow db migrate > "$DEMO/db-migrate.log" 2>&1 || { tail -20 "$DEMO/db-migrate.log"; exit 1; }

echo "==> airflow dags test example_bifrost_pipeline"
airflow dags test example_bifrost_pipeline > "$DEMO/dags-test.log" 2>&1 || { tail -40 "$DEMO/dags-test.log"; exit 1; }
echo "==> DAG run succeeded (full log: $DEMO/dags-test.log)"

manifest="$(ls -t "$DEMO"/output/*/_manifest.json | head -1)"
echo
echo "==> results in $OUTPUT_URI; the export's manifest ($manifest):"
cat "$manifest"; echo
echo
echo "==> the summary of the mapped processing, with the first processed results ($(dirname "$manifest")/summary.json):"
cat "$(dirname "$manifest")/summary.json"; echo
