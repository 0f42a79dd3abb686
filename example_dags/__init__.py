"""Example DAGs for the Bifrost provider; each runs against the emulator with `airflow dags test`."""
