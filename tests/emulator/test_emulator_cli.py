"""`python -m airflow_provider_oac.emulator`: starts, says how to connect, serves, stops cleanly."""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from airflow_provider_oac.emulator import EmulatorConfig, EmulatorControl
from airflow_provider_oac.emulator.cli import add_arguments, run

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_port_pair() -> int:
    """A port whose next port is free too (``--instances 2`` listens on both): a free port alone
    often has its neighbour taken by another test's server when tests run side by side."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as first, socket.socket() as second:
            try:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


def wait_until_up(control: EmulatorControl, process: subprocess.Popen, timeout: float = 60.0) -> None:
    # 60 s: on the loaded 2-core machine (the compat matrix, load 8) it once took over 20 s.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if control.health():
                return
        except requests.exceptions.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("the emulator subprocess did not come up")


@pytest.fixture
def subprocess_emulator():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_oac.emulator", "--port", str(port), "--log-requests"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    control = EmulatorControl(f"http://127.0.0.1:{port}")
    try:
        wait_until_up(control, process)
        yield port, process, control
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_subprocess_emulator_serves_a_login_and_stops_cleanly_on_ctrl_c(subprocess_emulator):
    port, process, control = subprocess_emulator
    base = f"http://127.0.0.1:{port}"
    config = EmulatorConfig()
    http = requests.Session()
    http.trust_env = False
    started = http.post(
        f"{base}/iam/oauth2/v1/device",
        data={"client_id": config.client_id, "response_type": "device_code", "scope": config.scope},
        timeout=10,
    ).json()
    control.approve(started["user_code"])
    tokens = http.post(
        f"{base}/iam/oauth2/v1/token",
        data={
            "client_id": config.client_id,
            "grant_type": DEVICE_GRANT,
            "device_code": started["device_code"],
        },
        timeout=10,
    ).json()
    listed = http.get(
        f"{base}/api/20210901/snapshots",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert listed.status_code == 200

    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=20)

    assert process.returncode == 0
    assert "Traceback" not in stderr
    assert f"OAC URL:        {base}" in stdout
    assert f"IAM URL:        {base}/iam" in stdout
    assert f"Client ID:      {config.client_id}" in stdout
    assert f"Scope:          {config.scope}" in stdout
    assert "Emulator stopped." in stdout
    # The request log went to stderr, paths only.
    assert "GET /api/20210901/snapshots -> 200" in stderr
    for secret in (started["device_code"], tokens["access_token"], tokens["refresh_token"]):
        assert secret not in stdout + stderr


def test_subprocess_emulator_stops_cleanly_on_sigterm(subprocess_emulator):
    _port, process, _control = subprocess_emulator

    process.send_signal(signal.SIGTERM)
    _stdout, stderr = process.communicate(timeout=20)

    assert process.returncode == 0
    assert "Traceback" not in stderr


def test_cli_options_become_emulator_settings():
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_oac.emulator",
            f"--port={port}",
            "--auto-approve",
            "--access-token-ttl=7",
            "--work-request-seconds=0.5",
            "--device-interval=2",
            "--reuse-detection",
            "--no-rotation",
            "--no-password-rule",
            "--audience=https://oic0audience.integration.ocp.oraclecloud.com:443",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    control = EmulatorControl(f"http://127.0.0.1:{port}")
    try:
        wait_until_up(control, process)
        config = control.config()
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)

    assert config["auto_approve"] is True
    assert config["access_token_ttl"] == 7.0
    assert config["work_request_seconds"] == 0.5
    assert config["device_interval"] == 2
    assert config["reuse_detection"] is True
    assert config["rotate_refresh_tokens"] is False
    assert config["enforce_snapshot_password_rule"] is False
    assert config["audience"] == "https://oic0audience.integration.ocp.oraclecloud.com:443"
    assert process.returncode == 0


def test_the_snapshot_password_rule_is_enforced_by_default():
    assert EmulatorConfig().enforce_snapshot_password_rule is True


def test_cli_refuses_a_non_loopback_host(capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    code = run(parser.parse_args(["--host", "0.0.0.0", "--port", "0"]))

    assert code == 2
    assert "loopback" in capsys.readouterr().err


def test_cli_reports_a_port_in_use_in_one_line(emulator, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    code = run(parser.parse_args(["--port", str(emulator.port)]))

    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{emulator.port}")
    assert len(err.strip().splitlines()) == 1
