"""The TCP forwarder that bench/celery_deployment.py puts in front of IAM
(``airflow_provider_oac.testing.TCPForwarder``): it forwards every connection, and a cut looks to a
client like a service that dropped off the network."""

import socket

import pytest
import requests

from airflow_provider_oac.auth.flows import start_device_login
from airflow_provider_oac.hooks.config import connection_config
from airflow_provider_oac.testing import TCPForwarder

REQUEST = b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
def forwarder(emulator):
    with TCPForwarder("127.0.0.1", emulator.port) as forwarder:
        yield forwarder


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response, so that nothing of it is left unread when the reset comes."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def health(forwarder: TCPForwarder, session=requests) -> int:
    return session.get(f"{forwarder.url}/_emulator/health", timeout=5).status_code


def test_a_connection_with_its_iam_behind_the_forwarder_talks_to_the_emulators_iam(emulator, forwarder):
    # What the Celery bench's connection holds: OAC straight at the emulator, IAM at the forwarder
    # (plain http:// is accepted: the forwarder is on a loopback address).
    config = connection_config(
        "oac_default",
        host=emulator.url,
        login=emulator.config.client_id,
        password=None,
        extra={"iam_url": f"{forwarder.url}/iam", "scope": emulator.config.scope},
        require_refresh_token=False,
    )
    endpoints = config.iam_endpoints
    assert all(
        url.startswith(f"{forwarder.url}/iam/")
        for url in (endpoints.device_url, endpoints.token_url, endpoints.revoke_url)
    )
    with requests.Session() as session:
        authorization = start_device_login(session, endpoints, config.client_id, config.scope)
    assert authorization.verification_uri.startswith(f"{forwarder.url}/iam/")
    assert emulator.control.counters()["device_authorizations"] == 1


def test_cut_refuses_new_connections(forwarder):
    forwarder.cut()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", forwarder.port), timeout=5)
    with pytest.raises(requests.ConnectionError):
        health(forwarder)


def test_cut_resets_a_kept_alive_connection(forwarder):
    with socket.create_connection(("127.0.0.1", forwarder.port), timeout=5) as client:
        client.sendall(REQUEST)
        assert read_response(client).startswith(b"HTTP/1.1 200")

        forwarder.cut()

        with pytest.raises(ConnectionResetError):
            client.recv(1)


def test_cut_resets_both_ends_of_a_request_in_flight():
    # A target that accepts and never answers: the request is open when the cut comes.
    with (
        socket.create_server(("127.0.0.1", 0)) as target,
        TCPForwarder("127.0.0.1", target.getsockname()[1]) as forwarder,
        socket.create_connection(("127.0.0.1", forwarder.port), timeout=5) as client,
    ):
        client.sendall(REQUEST)
        target.settimeout(5)
        accepted, _ = target.accept()
        with accepted:
            accepted.settimeout(5)
            assert accepted.recv(65536) == REQUEST

            forwarder.cut()

            with pytest.raises(ConnectionResetError):
                client.recv(1)
            with pytest.raises(ConnectionResetError):
                accepted.recv(1)


def test_a_session_fails_during_a_cut_and_works_after_restore_on_the_same_port(forwarder):
    port = forwarder.port
    with requests.Session() as session:
        assert health(forwarder, session) == 200

        forwarder.cut()
        with pytest.raises(requests.ConnectionError):
            health(forwarder, session)

        forwarder.restore()
        assert forwarder.port == port
        assert health(forwarder, session) == 200


def test_restore_while_listening_changes_nothing(forwarder):
    port = forwarder.port
    forwarder.restore()
    assert forwarder.port == port
    assert health(forwarder) == 200


@pytest.mark.usefixtures("airflow_db")
def test_a_refresh_while_iam_is_cut_off_fails_as_unreachable_and_sends_no_refresh_token(emulator, forwarder):
    import json

    from airflow.models import Connection
    from airflow.utils.session import create_session

    from airflow_provider_oac.errors import OACTokenEndpointUnavailable
    from airflow_provider_oac.hooks.oac import OACHook
    from airflow_provider_oac.testing import login

    login(emulator, "oac_fwd_cut")
    with create_session() as session:  # IAM behind the forwarder, as in the Celery bench
        conn = session.query(Connection).filter_by(conn_id="oac_fwd_cut").one()
        conn.set_extra(json.dumps({**conn.extra_dejson, "iam_url": f"{forwarder.url}/iam"}))
    hook = OACHook("oac_fwd_cut")
    assert hook.config.iam_endpoints.token_url.startswith(forwarder.url)
    hook.token_manager.invalidate_current()
    forwarder.cut()
    try:
        with pytest.raises(OACTokenEndpointUnavailable, match="could not be reached") as failure:
            hook.get_access_token()
        assert failure.value.refresh_token_maybe_spent is False
    finally:
        forwarder.restore()
    hook.get_access_token()  # the same refresh token, never presented before: the login is fine
    counters = emulator.control.counters()
    assert counters["refreshes"] == 1 and counters["spent_refresh_token_presentations"] == 0, counters
