"""``airflow-oac snapshots copy`` as users run it, against two emulated instances."""

from __future__ import annotations

import json

import pytest

from tests.helpers import SNAPSHOT_PASSWORD, cli
from tests.instances import PROD_CONN, TEST_CONN, two_instances

pytestmark = pytest.mark.usefixtures("airflow_db")

ENV = {"SNAP_PW": SNAPSHOT_PASSWORD}
COPY = (
    "snapshots",
    "copy",
    "--from-conn-id",
    PROD_CONN,
    "--to-conn-id",
    TEST_CONN,
    "--password-env",
    "SNAP_PW",
)


def test_copy_prints_its_result_as_json_and_test_holds_prods_content(tmp_path, monkeypatch):
    with two_instances(tmp_path, monkeypatch) as pair:
        prod_content = pair.source.control.state()["content"]
        done = cli(
            *COPY,
            "--name",
            "cli-weekly",
            "--safety-snapshot-name",
            "cli-before",
            "--yes",
            "--poll-interval",
            "0.1",
            "--json",
            env=ENV,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["source_snapshot_name"] == "cli-weekly" and result["registration_removed"]
        assert result["safety_snapshot_id"] and result["target_conn_id"] == TEST_CONN
        assert pair.target.control.state()["content"] == prod_content
        figures = pair.figures()
        assert (figures["source"]["snapshot_posts"], figures["target"]["snapshot_posts"]) == (1, 2)
        assert figures["target"]["restore_posts"] == 1
        assert "accepted the request to register snapshot 'cli-weekly'" in done.stderr
        assert SNAPSHOT_PASSWORD not in done.stdout + done.stderr


def test_copy_errors_are_one_line_without_a_traceback(tmp_path, monkeypatch):
    with two_instances(tmp_path, monkeypatch, oac_version="2026.1") as pair:
        refused = cli(*COPY, "--name", "too-new", "--yes", env=ENV)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.strip().count("\n") == 0
        assert "Traceback" not in refused.stderr
        assert "later than the target's 2026.1" in refused.stderr
        assert pair.posts(pair.source, "/snapshots") == pair.posts(pair.target, "/snapshots") == 0

        same = cli(
            "snapshots",
            "copy",
            "--from-conn-id",
            PROD_CONN,
            "--to-conn-id",
            PROD_CONN,
            "--password-env",
            "SNAP_PW",
            "--name",
            "x",
            "--yes",
            env=ENV,
        )
        assert same.returncode == 2 and "same connection" in same.stderr

        unconfirmed = cli(*COPY, "--name", "no-yes", env=ENV)
        assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
