"""TLS failures on a real TLS server (the emulator behind its TLS front, a self-signed certificate
made at test time), for both transports: requests (``send``) and httpx (``asend``).

A TLS error after the handshake means the request went out: the server may have acted, so the
error must say ``request_sent=True`` and the client must not send a POST again. Only a failed
handshake (or a certificate the client does not trust) means "never sent".
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_oac._http import HTTPRequest, asend, send
from airflow_provider_oac.auth.flows import poll_device_login, start_device_login
from airflow_provider_oac.auth.protocol import IAMEndpoints
from airflow_provider_oac.client.auth import StaticTokenSource
from airflow_provider_oac.client.models import SnapshotStorageSpec
from airflow_provider_oac.client.sync import OACClient
from airflow_provider_oac.emulator.tls import TLSFront
from airflow_provider_oac.errors import OACOutcomeUnknownError, OACTransportError

DEVICE = "POST /iam/oauth2/v1/device"


@pytest.fixture
def front(emulator):
    with TLSFront(emulator) as tls:
        yield tls


def device_request(front: TLSFront) -> HTTPRequest:
    # Any request the emulator acts on will do; this one needs no login.
    return HTTPRequest(
        "POST", f"{front.url}/iam/oauth2/v1/device", form={"client_id": front.config.client_id, "scope": "x"}
    )


def call(transport: str, request: HTTPRequest, verify: bool | str) -> OACTransportError | None:
    """Send ``request``; the transport error it raised, or None if it was answered."""
    try:
        if transport == "requests":
            import requests

            with requests.Session() as session:
                send(session, request, timeout=(5, 5), verify=verify)
        else:
            import httpx

            from airflow_provider_oac.client.aio import _ssl_context

            async def go():
                async with httpx.AsyncClient(verify=_ssl_context(verify)) as client:
                    await asend(client, request, timeout=(5, 5))

            asyncio.run(go())
    except OACTransportError as exc:
        return exc
    return None


def arrived(emulator) -> int:
    return sum(1 for line in emulator.control.request_log() if line["path"] == "/iam/oauth2/v1/device")


TRANSPORTS = ["requests", "httpx"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_healthy_tls_server_answers(emulator, front, transport):
    assert call(transport, device_request(front), front.ca_file) is None
    assert arrived(emulator) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("action", ["tls_garbage_after_request", "tls_close_after_request"])
def test_tls_broken_after_the_request_counts_as_sent(emulator, front, transport, action):
    emulator.control.add_fault(DEVICE, action)

    error = call(transport, device_request(front), front.ca_file)

    assert arrived(emulator) == 1  # the server got it (and acted)
    assert error is not None
    assert error.request_sent is True, error
    assert "verification" not in str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_failed_handshake_counts_as_not_sent(emulator, front, transport):
    front.break_handshakes = 1

    error = call(transport, device_request(front), front.ca_file)

    assert arrived(emulator) == 0
    assert error is not None
    assert error.request_sent is False, error
    assert "TLS handshake" in str(error)
    assert "verification" not in str(error)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_untrusted_certificate_counts_as_not_sent_and_names_the_ca_bundle_fix(emulator, front, transport):
    error = call(transport, device_request(front), True)  # the system CAs do not know this one

    assert arrived(emulator) == 0
    assert error is not None
    assert error.request_sent is False, error
    assert "TLS verification failed" in str(error)
    assert "ca_bundle" in str(error)


def test_a_restore_whose_tls_answer_breaks_is_posted_once(emulator, front):
    """The issue's reproduction: the TLS answer of a restore breaks, five times in a row if asked."""
    source = _snapshot(emulator)
    route = "POST /api/20210901/system/actions/restoreSnapshot"
    emulator.control.add_fault(route, "tls_garbage_after_request", times=5)
    client = OACClient(
        front.url, StaticTokenSource(_access_token(emulator)), verify=front.ca_file, sleep=lambda _s: None
    )

    with pytest.raises(OACOutcomeUnknownError):
        client.restore_snapshot(source, "Restore-Pa55word")

    assert emulator.control.counters()["restores_started"] == 1
    posts = [r for r in emulator.control.request_log() if r["path"].endswith("/restoreSnapshot")]
    assert len(posts) == 1


def _access_token(emulator) -> str:
    import requests

    emulator.control.configure(auto_approve=True, device_interval=1)
    endpoints = IAMEndpoints.for_domain(emulator.iam_url)
    with requests.Session() as session:
        authorization = start_device_login(
            session, endpoints, emulator.config.client_id, emulator.config.scope
        )
        return poll_device_login(session, endpoints, emulator.config.client_id, authorization).access_token


def _snapshot(emulator) -> str:
    emulator.control.configure(work_request_seconds=0)
    with OACClient(emulator.url, StaticTokenSource(_access_token(emulator))) as client:
        accepted = client.create_snapshot("tls-source", "Restore-Pa55word", SnapshotStorageSpec("b"))
        work_request = client.wait_for_work_request(accepted.work_request_id, poll_interval=0.1)
        return client.find_created_snapshot("tls-source", work_request).id


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("action", ["tls_garbage_after_request", "tls_close_after_request"])
def test_a_broken_answer_on_a_reused_connection_counts_as_sent(emulator, front, transport, action):
    """The handshake happened for an earlier request on the pooled connection: the failing request
    has no handshake of its own, and its broken answer must still count as sent."""
    request = device_request(front)
    errors: list[OACTransportError | None] = []
    if transport == "requests":
        import requests

        with requests.Session() as session:
            for arm in (False, True):
                if arm:
                    emulator.control.add_fault(DEVICE, action)
                try:
                    send(session, request, timeout=(5, 5), verify=front.ca_file)
                    errors.append(None)
                except OACTransportError as exc:
                    errors.append(exc)
    else:
        import httpx

        from airflow_provider_oac.client.aio import _ssl_context

        async def go():
            async with httpx.AsyncClient(verify=_ssl_context(front.ca_file)) as client:
                for arm in (False, True):
                    if arm:
                        emulator.control.add_fault(DEVICE, action)
                    try:
                        await asend(client, request, timeout=(5, 5))
                        errors.append(None)
                    except OACTransportError as exc:
                        errors.append(exc)

        asyncio.run(go())

    assert front.connections == 1  # the second request reused the first one's TLS connection
    assert errors[0] is None and errors[1] is not None
    assert errors[1].request_sent is True, errors[1]
    assert arrived(emulator) == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_handshake_that_times_out_counts_as_not_sent(emulator, front, transport):
    """urllib3 reports a TLS handshake timeout as a read timeout: it must not count as sent (a
    restore would fail for good, 'OAC may have started it', for a request that never left)."""
    front.stall_handshakes = 1
    request = device_request(front)
    try:
        if transport == "requests":
            import requests

            with requests.Session() as session:
                send(session, request, timeout=(1, 1), verify=front.ca_file)
        else:
            import httpx

            from airflow_provider_oac.client.aio import _ssl_context

            async def go():
                async with httpx.AsyncClient(verify=_ssl_context(front.ca_file)) as client:
                    await asend(client, request, timeout=(1, 1))

            asyncio.run(go())
    except OACTransportError as exc:
        error: OACTransportError | None = exc
    else:
        error = None

    assert arrived(emulator) == 0
    assert error is not None
    assert error.request_sent is False, error
