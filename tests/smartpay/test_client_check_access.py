"""check_access against the sandbox over loopback: one cheap GET proves the key and the prefix."""

from __future__ import annotations

import pytest

from batch_refunds import errors
from batch_refunds.api import SmartpayApi
from batch_refunds.sandbox import SandboxServer
from batch_refunds.smartpay import ClientConfig, SmartpayClient
from tests.conftest import MakeSandbox

from .client_fakes import FakeTime

RIGHT_KEY = "sk_test_TheRightKey0001"
WRONG_KEY = "sk_test_TheWrongKey0002"


def client(base_url: str, key: str, time: FakeTime) -> SmartpayClient:
    config = ClientConfig(key, base_url=base_url, rate_per_second=1000.0)
    return SmartpayClient(config, clock=time.clock, sleep=time.sleep)


def test_check_access_is_part_of_the_engines_interface() -> None:
    """The engine may prove access before any row: the Protocol declares it."""
    assert "check_access" in SmartpayApi.__dict__


async def test_a_good_key_and_prefix_pass_with_one_list_request(
    sandbox: SandboxServer, sandbox_key: str, fake_time: FakeTime
) -> None:
    """With the right key and prefix check_access returns, after one GET /orders (even with no
    orders at all) and no retries."""
    async with client(sandbox.base_url, sandbox_key, fake_time) as opened:
        assert await opened.check_access() is None
    assert sandbox.state.requests_served("GET", "/v1/orders", 200) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("key", [WRONG_KEY, "sk_live_AnyLiveKey0003"])
async def test_a_key_the_server_refuses_is_unauthorized_naming_its_mode_only(
    make_sandbox: MakeSandbox, fake_time: FakeTime, key: str
) -> None:
    """A sandbox that takes only RIGHT_KEY refuses another test key (and any live key) with 401:
    Unauthorized, whose message shows sk_test_***/sk_live_***, never the key, and says to set
    SMARTPAY_SECRET_KEY; one request, no retry."""
    server = await make_sandbox(secret=RIGHT_KEY)
    async with client(server.base_url, key, fake_time) as opened:
        with pytest.raises(errors.Unauthorized) as caught:
            await opened.check_access()
    text = str(caught.value)
    assert f"the secret key ({key[:8]}***) was not accepted by {server.base_url}" in text
    assert "SMARTPAY_SECRET_KEY" in text
    assert key not in text + repr(caught.value)
    assert key[8:] not in text
    assert isinstance(caught.value, errors.CONFIGURATION_ERRORS)
    assert server.state.requests_served("GET", "/v1/orders", 401) == 1
    assert fake_time.sleeps == []


async def test_a_prefix_without_v1_is_endpoint_not_found_suggesting_v1(
    sandbox: SandboxServer, sandbox_key: str, fake_time: FakeTime
) -> None:
    """Prefix http://127.0.0.1:PORT (no /v1): the server's plain 404 page becomes
    EndpointNotFound whose message shows that prefix and the /v1 form to try."""
    async with client(sandbox.root_url, sandbox_key, fake_time) as opened:
        with pytest.raises(errors.EndpointNotFound) as caught:
            await opened.check_access()
    message = caught.value.message
    assert message.startswith(
        f"nothing answers like Smartpay under the API prefix {sandbox.root_url}"
    )
    assert f"Smartpay's API lives under /v1: try {sandbox.root_url}/v1;" in message
    assert isinstance(caught.value, errors.CONFIGURATION_ERRORS)
    assert fake_time.sleeps == []


async def test_a_prefix_repeating_v1_is_endpoint_not_found_suggesting_one_v1(
    sandbox: SandboxServer, sandbox_key: str, fake_time: FakeTime
) -> None:
    """Prefix …/v1/v1: the sandbox's 404 resource.not-found becomes EndpointNotFound saying
    the prefix repeats /v1 and offering the prefix with one /v1."""
    async with client(sandbox.base_url + "/v1", sandbox_key, fake_time) as opened:
        with pytest.raises(errors.EndpointNotFound) as caught:
            await opened.check_access()
    assert caught.value.error_code == "resource.not-found"
    assert f"the prefix repeats /v1: try {sandbox.base_url};" in caught.value.message
    assert f"under the API prefix {sandbox.base_url}/v1 " in caught.value.message


async def test_an_object_404_is_plain_not_found(
    sandbox: SandboxServer, sandbox_key: str, fake_time: FakeTime
) -> None:
    """GET /orders/order_test_nope on a good prefix is Smartpay saying the order is missing:
    NotFound with order.not-found, not EndpointNotFound, and no configuration error."""
    async with client(sandbox.base_url, sandbox_key, fake_time) as opened:
        await opened.check_access()
        with pytest.raises(errors.NotFound) as caught:
            await opened.get_order("order_test_nope")
    assert type(caught.value) is errors.NotFound
    assert caught.value.error_code == "order.not-found"
    assert not isinstance(caught.value, errors.CONFIGURATION_ERRORS)
