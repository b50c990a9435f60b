"""Starting a device login rides out an IAM outage: asking for a code again is harmless."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_oac.auth.flows import MAX_POLL_BACKOFF, device_poll_backoff, start_device_login
from airflow_provider_oac.auth.protocol import IAMEndpoints
from airflow_provider_oac.errors import OACTokenEndpointUnavailable, OACTransportError

DEVICE = "POST /iam/oauth2/v1/device"


def start(emulator, **kwargs):
    waits: list[float] = []
    with requests.Session() as session:
        authorization = start_device_login(
            session,
            IAMEndpoints.for_domain(emulator.iam_url),
            emulator.config.client_id,
            emulator.config.scope,
            sleep=waits.append,
            **kwargs,
        )
    return authorization, waits


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_an_overloaded_device_endpoint_is_asked_again(emulator, status):
    emulator.control.add_fault(DEVICE, "status", status=status, times=2)

    authorization, waits = start(emulator)

    assert authorization.user_code in emulator.control.pending_user_codes()
    assert len(waits) == 2
    assert emulator.control.counters()["device_authorizations"] == 1


def test_retry_after_is_honoured_as_the_least_wait(emulator):
    emulator.control.add_fault(DEVICE, "status", status=429, retry_after=3)

    _authorization, waits = start(emulator)

    assert len(waits) == 1 and 3.0 <= waits[0] <= 4.0  # plus up to a second of jitter


def test_a_lasting_outage_ends_with_one_error(emulator):
    emulator.control.add_fault(DEVICE, "status", status=503, times=10)

    with pytest.raises(OACTokenEndpointUnavailable):
        start(emulator, max_attempts=3)

    assert emulator.control.counters()["device_authorizations"] == 0


def test_device_poll_backoff_keeps_the_interval_as_its_floor_and_honours_retry_after():
    unreachable = OACTransportError("connection refused")
    overloaded = OACTokenEndpointUnavailable("IAM is overloaded", retry_after=30.0)

    for failures in range(1, 12):
        delay = device_poll_backoff(5.0, failures, unreachable)
        assert 5.0 <= delay <= 5.0 + min(MAX_POLL_BACKOFF, 5.0 * 2 ** (failures - 1))
    assert 35.0 <= device_poll_backoff(5.0, 1, overloaded) <= 40.0
