from __future__ import annotations

import pytest

from tests.conftest import TEST_FERNET_KEY
from tests.servers import postgres_user, sqlalchemy_url, temporary_database
from tests.stress.harness import AirflowDB, migrate_airflow_db


@pytest.fixture(scope="module")
def pg_airflow_db(tmp_path_factory):
    """A migrated Airflow metadata database on the real PostgreSQL, of this module's own
    (``oac_stress_meta_<random>``, dropped afterwards), and the environment that uses it."""
    if postgres_user() is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    with temporary_database("stress_meta") as (user, database):
        home = tmp_path_factory.mktemp("pg-airflow-home")
        env = migrate_airflow_db(home, sqlalchemy_url(user, database), TEST_FERNET_KEY)
        yield AirflowDB(env, user, database)
