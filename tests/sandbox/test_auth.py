"""Auth: the raw secret in ``Authorization: Basic``, and Smartpay's peculiar 401 body."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from .conftest import MakeSandbox, Wire

REALM = "Smartpay API (sandbox)"


@pytest.mark.parametrize(
    "key",
    [None, "sk_test_", "pk_test_abc123", "sk_test_has space", "Bearer-ish"],
)
async def test_missing_or_malformed_key_gets_401_without_error_code(
    wire: Wire, key: str | None
) -> None:
    """A missing or malformed key is refused with {statusCode, scheme, realm} and nothing else."""
    reply = await wire.get("/refunds", key=key)
    assert reply.status == 401
    assert reply.body == {"statusCode": 401, "scheme": "Basic", "realm": REALM}
    assert reply.headers["WWW-Authenticate"] == f'Basic realm="{REALM}"'


async def test_any_well_formed_test_key_is_accepted_by_default(wire: Wire) -> None:
    """With no configured secret, any sk_test_ key opens the API."""
    reply = await wire.get("/refunds", key="sk_test_SomeoneElse42")
    assert reply.status == 200


async def test_base64_encoded_key_is_refused(wire: Wire, sandbox_key: str) -> None:
    """Smartpay wants the raw key, not HTTP Basic's base64 user:password; the latter is a 401."""
    encoded = "Basic " + base64.b64encode(f"{sandbox_key}:".encode()).decode()
    async with wire.session.get(
        f"{wire.server.base_url}/refunds", headers={"Authorization": encoded}
    ) as response:
        assert response.status == 401


async def test_live_key_is_refused_with_401(wire: Wire) -> None:
    """A sk_live_ key is never accepted by the test-mode sandbox: 401, same body shape."""
    reply = await wire.get("/refunds", key="sk_live_RealMoney123")
    assert reply.status == 401
    assert "errorCode" not in reply.body


async def test_configured_secret_is_the_only_key_accepted(
    make_sandbox: MakeSandbox, session: aiohttp.ClientSession
) -> None:
    """With a configured secret, other well-formed test keys get 401."""
    server = await make_sandbox(secret="sk_test_OnlyThisOne")
    wire = Wire(session, server, "sk_test_OnlyThisOne")
    assert (await wire.get("/refunds")).status == 200
    assert (await wire.get("/refunds", key="sk_test_NotThisOne")).status == 401


def test_config_refuses_a_live_secret_without_quoting_it() -> None:
    """Configuring a live key fails fast, and the message never contains the key."""
    from batch_refunds.sandbox import SandboxConfig

    with pytest.raises(ValueError, match="live key") as caught:
        SandboxConfig(secret="sk_live_Secret123")
    assert "Secret123" not in str(caught.value)
    assert "Secret123" not in repr(SandboxConfig(secret="sk_test_Secret123"))


async def test_unauthorized_requests_are_counted_but_change_nothing(
    wire: Wire, sandbox_key: str
) -> None:
    """A 401 on POST /refunds creates nothing; the stats record it by route and status."""
    order = wire.server.state.add_order(amount=1000)
    payment = wire.server.state.add_payment(order.id, 1000)
    reply = await wire.post(
        "/refunds",
        {"payment": payment.id, "amount": 100, "currency": "JPY", "reason": "fraudulent"},
        key=None,
    )
    assert reply.status == 401
    assert wire.server.state.all_refunds() == []
    assert wire.server.state.requests_served("POST", "/v1/refunds", 401) == 1
