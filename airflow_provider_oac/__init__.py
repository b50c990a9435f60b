"""Apache Airflow provider for Oracle Analytics Cloud (OAC) snapshots.

Importing this package is cheap on purpose: the DAG processor re-imports it for every DAG file.
Hooks, HTTP clients and Airflow internals load only when a task runs.
"""

__version__ = "0.1.0"
