"""Several OAC instances over one object store, built from the emulator's parts without HTTP: each
instance its own audience (and optionally its own identity domain), its own snapshots and content;
the BAR files one instance writes are there for another to register (the environment refresh)."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_oac.emulator import EmulatorServer
from airflow_provider_oac.emulator.common import APIProblem, Clock, Counters
from airflow_provider_oac.emulator.config import OAC_RESOURCE_SCOPE, EmulatorConfig
from airflow_provider_oac.emulator.iam import DEVICE_CODE_GRANT, IdentityDomain
from airflow_provider_oac.emulator.oac import OACInstance
from airflow_provider_oac.emulator.storage import ObjectStore
from tests.emulator.conftest import snapshot_body
from tests.helpers import SNAPSHOT_PASSWORD

PROD_AUDIENCE = "https://prod0audience.analytics.ocp.oraclecloud.com"
TEST_AUDIENCE = "https://test0audience.analytics.ocp.oraclecloud.com"


class Emulated:
    """The parts of an emulator with two instances, PROD and TEST, over one object store."""

    def __init__(self, *, own_iam_for_test: bool = False, test_region: str = "emulator-region-1"):
        self.lock = threading.RLock()
        self.clock = Clock()
        self.counters = Counters()
        self.store = ObjectStore(self.lock)
        base = EmulatorConfig(auto_approve=True, work_request_seconds=0)
        self.prod_iam = IdentityDomain(base, self.clock, self.counters, self.lock)
        self.test_iam = (
            IdentityDomain(base, self.clock, self.counters, self.lock) if own_iam_for_test else self.prod_iam
        )
        self.prod = self.instance("prod", PROD_AUDIENCE, self.prod_iam, content="PROD catalog, version 7")
        self.test = self.instance("test", TEST_AUDIENCE, self.test_iam, region=test_region)

    def instance(self, name: str, audience: str, iam: IdentityDomain, **kwargs) -> OACInstance:
        config = EmulatorConfig(audience=audience, work_request_seconds=0)
        return OACInstance(
            config,
            iam=iam,
            store=self.store,
            clock=self.clock,
            counters=self.counters,
            lock=self.lock,
            name=name,
            **kwargs,
        )


def bearer(instance: OACInstance) -> str:
    """An ``Authorization`` header from a device login for ``instance``'s audience (auto-approved)."""
    iam = instance.iam
    scope = f"{instance.config.audience}{OAC_RESOURCE_SCOPE} offline_access"
    client_id = iam.config.client_id
    device = iam.device_authorize(
        {"client_id": client_id, "response_type": "device_code", "scope": scope}, None, "http://iam"
    )
    tokens = iam.token(
        {"client_id": client_id, "grant_type": DEVICE_CODE_GRANT, "device_code": device["device_code"]}, None
    )
    return f"Bearer {tokens['access_token']}"


def work_request_status(instance: OACInstance, work_request_id: str) -> str:
    return instance.get_work_request(work_request_id)["status"]


def test_two_instances_share_a_bucket_and_keep_their_own_snapshots_and_content():
    emulated = Emulated()
    prod, test = emulated.prod, emulated.test
    user = prod.authenticate(bearer(prod))

    created = prod.create_snapshot(snapshot_body("CREATE", "weekly", bucket="shared"), user, None)
    assert work_request_status(prod, created) == "SUCCEEDED"
    # One object store: the BAR PROD wrote is in the bucket TEST sees.
    assert [(o["bucket"], o["object"]) for o in emulated.store.listing()] == [("shared", "weekly.bar")]

    registered = test.create_snapshot(
        snapshot_body("REGISTER", "from-prod", bucket="shared", uri="file:///weekly.bar"),
        test.authenticate(bearer(test)),
        None,
    )
    assert work_request_status(test, registered) == "SUCCEEDED"

    # Separate snapshot lists: each instance lists only its own record of the one BAR file.
    assert [s["name"] for s in prod.list_snapshots()] == ["weekly"]
    assert [s["name"] for s in test.list_snapshots()] == ["from-prod"]
    [on_test] = test.snapshots_info()
    assert on_test["type"] == "REGISTER" and on_test["bar_exists"]

    assert test.content != prod.content
    restore = test.restore_snapshot({"snapshot": {"id": on_test["id"], "password": SNAPSHOT_PASSWORD}}, None)
    assert work_request_status(test, restore) == "SUCCEEDED"
    assert test.content == "PROD catalog, version 7"
    assert [r["status"] for r in test.restores()] == ["SUCCEEDED"]
    assert prod.restores() == []

    # Removing TEST's registration leaves PROD's snapshot and the BAR file alone.
    test.delete_snapshot(on_test["id"], delete_storage=False)
    assert test.list_snapshots() == []
    assert [s["name"] for s in prod.list_snapshots()] == ["weekly"]
    assert len(emulated.store.listing()) == 1


def test_a_token_is_only_good_for_the_instance_it_was_issued_for():
    emulated = Emulated()
    with pytest.raises(APIProblem) as refused:
        emulated.test.authenticate(bearer(emulated.prod))
    assert refused.value.status == 401
    assert "not issued for this Oracle Analytics Cloud instance" in refused.value.message


def test_an_instance_with_its_own_identity_domain_refuses_the_other_domains_tokens():
    emulated = Emulated(own_iam_for_test=True)
    assert emulated.test.authenticate(bearer(emulated.test)) == EmulatorConfig().username
    with pytest.raises(APIProblem) as refused:
        emulated.test.authenticate(bearer(emulated.prod))
    assert "not signed by this identity domain" in refused.value.message


def test_buckets_are_per_region_and_namespace():
    emulated = Emulated(test_region="eu-frankfurt-1")
    prod, test = emulated.prod, emulated.test
    prod.create_snapshot(snapshot_body("CREATE", "dr", bucket="backups"), "someone", None)

    # TEST lives in another region: the same bucket name there is another bucket.
    missing = test.create_snapshot(
        snapshot_body("REGISTER", "dr-local", bucket="backups", uri="file:///dr.bar"), "someone", None
    )
    [failed] = test.get_work_request(missing)["Errors"]
    assert failed["code"] == "BarFileNotFound"

    # Naming the primary's region and namespace, as the register of a DR drill does, finds it.
    body = snapshot_body("REGISTER", "dr-remote", bucket="backups", uri="file:///dr.bar")
    body["storage"].update(bucketOciRegion=prod.region, bucketOciNamespace=prod.namespace)
    found = test.create_snapshot(body, "someone", None)
    assert work_request_status(test, found) == "SUCCEEDED"
    [listed] = test.list_snapshots()
    assert listed["storage"]["bucketOciRegion"] == prod.region


def test_two_emulator_servers_over_one_object_store_refresh_test_from_prod():
    """What the environment refresh needs over HTTP: PROD and TEST as two servers (two identity
    domains, two audiences) sharing one store; TEST registers and restores PROD's BAR file."""
    import requests

    store = ObjectStore(threading.RLock())
    prod_config = EmulatorConfig(
        audience=PROD_AUDIENCE, auto_approve=True, work_request_seconds=0, instance_name="prod"
    )
    test_config = EmulatorConfig(
        audience=TEST_AUDIENCE, auto_approve=True, work_request_seconds=0, instance_name="test"
    )
    with (
        EmulatorServer(prod_config, store=store) as prod,
        EmulatorServer(test_config, store=store) as test,
        requests.Session() as http,
    ):
        http.trust_env = False

        def headers(server: EmulatorServer) -> dict[str, str]:
            form = {"client_id": server.config.client_id}
            device = http.post(
                f"{server.iam_url}/oauth2/v1/device",
                data={**form, "response_type": "device_code", "scope": server.config.scope},
            ).json()
            token = http.post(
                f"{server.iam_url}/oauth2/v1/token",
                data={**form, "grant_type": DEVICE_CODE_GRANT, "device_code": device["device_code"]},
            ).json()
            return {"Authorization": f"Bearer {token['access_token']}"}

        def create(server: EmulatorServer, body: dict) -> str:
            answer = http.post(f"{server.url}/api/20210901/snapshots", json=body, headers=headers(server))
            assert answer.status_code == 202, answer.text
            return answer.json()["workRequestId"]

        prod_content = prod.control.state()["content"]
        assert test.control.state()["content"] != prod_content
        create(prod, snapshot_body("CREATE", "weekly", bucket="shared"))
        # TEST's identity domain does not vouch for PROD's tokens.
        foreign = http.get(f"{test.url}/api/20210901/snapshots", headers=headers(prod))
        assert foreign.status_code == 401

        create(test, snapshot_body("REGISTER", "from-prod", bucket="shared", uri="file:///weekly.bar"))
        [registered] = test.control.snapshots()
        assert registered["registered"]
        restore = http.post(
            f"{test.url}/api/20210901/system/actions/restoreSnapshot",
            json={"snapshot": {"id": registered["id"], "password": SNAPSHOT_PASSWORD}},
            headers=headers(test),
        )
        assert restore.status_code == 202, restore.text
        assert [r["status"] for r in test.control.restores()] == ["SUCCEEDED"]
        assert test.control.state()["content"] == prod_content

        # A reset of one emulator keeps the shared store (the other instance's BAR files).
        test.control.reset()
        assert [o["object"] for o in prod.control.bar_objects()] == ["weekly.bar"]
        assert [s["name"] for s in prod.control.snapshots()] == ["weekly"]


def test_a_bar_from_a_later_oac_version_is_refused_at_register_and_at_restore():
    emulated = Emulated()
    prod, test = emulated.prod, emulated.test
    prod.config = prod.config.with_changes(oac_version="2026.11.0")
    test.config = test.config.with_changes(oac_version="2026.9")
    prod.create_snapshot(snapshot_body("CREATE", "weekly", bucket="shared"), "someone", None)
    assert [o["version"] for o in emulated.store.listing()] == ["2026.11.0"]

    refused = test.create_snapshot(
        snapshot_body("REGISTER", "from-prod", bucket="shared", uri="file:///weekly.bar"), "someone", None
    )
    [error] = test.get_work_request(refused)["Errors"]
    assert error["code"] == "SnapshotVersionNotSupported"
    assert "2026.11.0" in error["message"] and "same or a later version" in error["message"]
    assert test.list_snapshots() == []

    # Registered while TEST was up to date, then restored after TEST went back a version.
    test.config = test.config.with_changes(oac_version="2026.11")
    registered = test.create_snapshot(
        snapshot_body("REGISTER", "from-prod", bucket="shared", uri="file:///weekly.bar"), "someone", None
    )
    assert work_request_status(test, registered) == "SUCCEEDED"
    test.config = test.config.with_changes(oac_version="2026.10.5")
    [on_test] = test.list_snapshots()
    restore = test.restore_snapshot({"snapshot": {"id": on_test["id"], "password": SNAPSHOT_PASSWORD}}, None)
    assert test.get_work_request(restore)["Errors"][0]["code"] == "SnapshotVersionNotSupported"
    assert test.content != prod.content

    # The same version, or a later one, restores.
    test.config = test.config.with_changes(oac_version="2027.1")
    again = test.restore_snapshot({"snapshot": {"id": on_test["id"], "password": SNAPSHOT_PASSWORD}}, None)
    assert work_request_status(test, again) == "SUCCEEDED"
    assert test.content == prod.content


def test_get_system_names_each_instance_and_its_version_unless_configured_not_to():
    emulated = Emulated()
    assert emulated.prod.system()["name"] == "prod"
    assert emulated.test.system()["version"] == EmulatorConfig().oac_version
    emulated.test.config = emulated.test.config.with_changes(system_reports_version=False)
    assert "version" not in emulated.test.system()


def test_oac_version_must_be_dotted_numbers():
    with pytest.raises(ValueError, match="oac_version"):
        EmulatorConfig(oac_version="latest")


def test_the_emulator_command_line_asks_for_several_instances():
    import argparse

    from airflow_provider_oac.emulator.cli import add_arguments, instance_configs

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = EmulatorConfig(auto_approve=True)

    two = instance_configs(base, parser.parse_args(["--instances", "2"]))
    assert [c.instance_name for c in two] == ["prod", "test"]
    assert len({c.audience for c in two}) == 2 and all(c.auto_approve for c in two)

    named = instance_configs(
        base,
        parser.parse_args(
            ["--instance", "primary", "--instance", "standby,region=eu-frankfurt-1,version=2026.9"]
        ),
    )
    assert [(c.instance_name, c.region, c.oac_version) for c in named] == [
        ("primary", base.region, base.oac_version),
        ("standby", "eu-frankfurt-1", "2026.9"),
    ]
    assert instance_configs(base, parser.parse_args([])) == [base]
    for bad in (["--instance", "a", "--instance", "a"], ["--instance", "a,colour=red"], ["--instances", "0"]):
        with pytest.raises(ValueError):
            instance_configs(base, parser.parse_args(bad))


def test_airflow_oac_emulator_instances_2_serves_two_instances_over_one_store(tmp_path):
    """The command itself: two servers on --port and --port+1, one store, stopped by Ctrl-C."""
    import signal
    import subprocess
    import sys

    from airflow_provider_oac.emulator import EmulatorControl
    from tests.emulator.test_emulator_cli import free_port_pair, wait_until_up

    port = free_port_pair()
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_oac.emulator", "--port", str(port), "--instances", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        prod = EmulatorControl(f"http://127.0.0.1:{port}")
        test = EmulatorControl(f"http://127.0.0.1:{port + 1}")
        wait_until_up(prod, process)
        wait_until_up(test, process)
        assert prod.state()["instance_name"] == "prod" and test.state()["instance_name"] == "test"
        assert prod.config()["audience"] != test.config()["audience"]
        prod.put_bar_object("shared", "seen-by-both.bar", SNAPSHOT_PASSWORD)
        assert [o["object"] for o in test.bar_objects()] == ["seen-by-both.bar"]
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "instance 'prod'" in out and "instance 'test'" in out and f":{port + 1}" in out
