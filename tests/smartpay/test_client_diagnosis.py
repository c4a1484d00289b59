"""diagnosis: the messages of a rejected key and of a URL that leads nowhere."""

from __future__ import annotations

import pytest

from batch_refunds.smartpay.diagnosis import (
    endpoint_not_found_message,
    prefix_hint,
    unauthorized_message,
)


@pytest.mark.parametrize(
    ("prefix", "hint"),
    [
        (
            "http://127.0.0.1:8700",
            "Smartpay's API lives under /v1: try http://127.0.0.1:8700/v1",
        ),
        (
            "https://proxy.example/smartpay",
            "Smartpay's API lives under /v1: try https://proxy.example/smartpay/v1",
        ),
        ("http://127.0.0.1:8700/v1/v1", "the prefix repeats /v1: try http://127.0.0.1:8700/v1"),
        ("https://gw.example/api/v1/v1", "the prefix repeats /v1: try https://gw.example/api/v1"),
        (
            "http://127.0.0.1:8700/v1/orders",
            "the prefix goes on past /v1: try http://127.0.0.1:8700/v1",
        ),
        (
            "http://127.0.0.1:8700/v1",
            "check its host and port (Smartpay's own is https://api.smartpay.co/v1)",
        ),
        ("https://api.smartpay.co/v1", "something other than Smartpay (a proxy?) answered"),
    ],
)
def test_prefix_hint_names_the_likely_mistake_and_the_form_to_try(prefix: str, hint: str) -> None:
    """Missing /v1 → add it; doubled /v1 or a path past it → cut back to one /v1; a prefix
    that already ends in one /v1 → look at the host."""
    assert prefix_hint(prefix) == hint


def test_endpoint_message_shows_the_prefix_what_the_server_said_and_where_to_set_it() -> None:
    """The 404 message quotes the configured prefix, the server's own words, the hint, and the
    two places the prefix is set."""
    message = endpoint_not_found_message(
        base_url="http://127.0.0.1:8700/v1/v1", server_message="No route /v1/v1/orders"
    )
    assert message == (
        "nothing answers like Smartpay under the API prefix http://127.0.0.1:8700/v1/v1 "
        '(the server said "No route /v1/v1/orders"): the prefix repeats /v1: try '
        "http://127.0.0.1:8700/v1; set it in SMARTPAY_API_PREFIX (or pass --api-prefix)"
    )


@pytest.mark.parametrize("key", ["sk_test_Abcdef123456", "sk_live_Abcdef123456"])
def test_unauthorized_message_shows_the_mode_never_the_key(key: str) -> None:
    """The 401 message names the key's mode as sk_test_***/sk_live_***, never the key, and
    says which variable to set."""
    message = unauthorized_message(
        secret_key=key, base_url="https://api.smartpay.co/v1", server_message=None
    )
    assert key not in message
    assert "Abcdef123456" not in message
    assert (
        f"the secret key ({key[:8]}***) was not accepted by https://api.smartpay.co/v1" in message
    )
    assert "a test key against the live API or the other way round" in message
    assert "SMARTPAY_SECRET_KEY" in message
