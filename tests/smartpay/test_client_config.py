"""ClientConfig: defaults, validation with the field name, the masked secret, from_env."""

from __future__ import annotations

import pytest

from batch_refunds.errors import ConfigError
from batch_refunds.smartpay.config import DEFAULT_BASE_URL, ClientConfig

from .client_fakes import SECRET


def test_defaults_are_valid_and_point_at_smartpay() -> None:
    """A config built from a key alone is valid and targets the public API in test mode."""
    config = ClientConfig(SECRET)
    assert config.base_url == DEFAULT_BASE_URL
    assert config.live is False


def test_repr_masks_the_secret() -> None:
    """repr() shows only the key's mode prefix, never the key."""
    text = repr(ClientConfig(SECRET))
    assert SECRET not in text
    assert "sk_test_***" in text


@pytest.mark.parametrize(
    "bad",
    ["", "pk_test_abc", "sk_test_", "sk_prod_abc123", "sk_test_abc-123", " sk_test_abc", 42],
)
def test_bad_secret_is_refused_without_quoting_it(bad: object) -> None:
    """A key not matching ^sk_(test|live)_[0-9a-zA-Z]+$ is a ConfigError that doesn't echo it."""
    with pytest.raises(ConfigError, match=r"^secret_key: ") as caught:
        ClientConfig(bad)  # type: ignore[arg-type]
    if isinstance(bad, str) and len(bad.strip()) > len("sk_test_"):
        assert bad.strip() not in str(caught.value)


def test_near_miss_secret_is_not_echoed() -> None:
    """A real key with a typo is still mostly the secret, so the message must not contain it."""
    with pytest.raises(ConfigError) as caught:
        ClientConfig(SECRET + "!")
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate_per_second", 0),
        ("rate_per_second", float("inf")),
        ("rate_per_second", "10"),
        ("max_in_flight", 0),
        ("max_in_flight", 2.5),
        ("max_in_flight", True),
        ("connect_timeout_s", 0),
        ("request_timeout_s", -1),
        ("max_attempts", 0),
        ("max_retry_time_s", -0.1),
        ("backoff_base_s", 0),
        ("backoff_cap_s", 0.1),  # below the default base of 0.5
        ("retry_after_cap_s", -1),
        ("min_rate_per_second", 0),
        ("min_rate_per_second", 11.0),  # above the default rate of 10
        ("max_response_bytes", 0),
        ("max_response_bytes", 2.0**20),
        ("max_list_pages", 0),
        ("max_list_items", -1),
        ("max_list_items", None),
        ("base_url", "ftp://api.smartpay.co/v1"),
        ("base_url", "api.smartpay.co/v1"),
        ("base_url", "https://api.smartpay.co/v1?x=1"),
    ],
)
def test_each_bad_setting_names_its_field(field: str, value: object) -> None:
    """Every invalid setting fails at construction with a message starting with its name."""
    with pytest.raises(ConfigError, match=rf"^{field}: "):
        ClientConfig(SECRET, **{field: value})  # type: ignore[arg-type]


def test_default_rate_floor_follows_a_slow_rate() -> None:
    """Asking for 0.2 requests/s works: the 429 floor defaults to min(0.5, rate)."""
    assert ClientConfig(SECRET, rate_per_second=0.2).rate_floor_per_second == 0.2
    assert ClientConfig(SECRET).rate_floor_per_second == 0.5
    assert ClientConfig(SECRET, min_rate_per_second=2.0).rate_floor_per_second == 2.0


@pytest.mark.parametrize("key", ["sk_live_Abc123", "sk_test_Abc123"])
@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/v1",
        "http://sandbox.internal:8700/v1",
        "http://192.168.1.20:8700/v1",
        "http://[fe80::1]:8700/v1",
        "http://localhost.example.com/v1",
        "http://127.0.0.1.nip.io/v1",
        "HTTP://api.example.com/v1",
    ],
)
def test_plain_http_to_another_host_is_refused_for_every_key(key: str, url: str) -> None:
    """Over http:// the key would cross the network in clear text, test key or live key alike:
    refused before any request, saying why and offering the https:// form."""
    with pytest.raises(ConfigError, match=r"^base_url: plain http:// would carry") as caught:
        ClientConfig(key, base_url=url)
    message = str(caught.value)
    assert "unencrypted" in message
    assert "use https://" + url.split("://", 1)[1] in message
    assert key not in message


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8700/v1",
        "http://LOCALHOST/v1",
        "http://127.0.0.1:8700/v1",
        "http://127.8.9.10/v1",
        "http://[::1]:8700/v1",
        "http://[::ffff:127.0.0.1]:8700/v1",
        "https://api.example.com/v1",
    ],
)
def test_plain_http_to_this_machine_and_https_anywhere_are_accepted(url: str) -> None:
    """Loopback (localhost, 127.0.0.0/8, ::1) never leaves the machine, so http is fine there,
    even with a live key; https is fine everywhere."""
    assert ClientConfig("sk_live_Abc123", base_url=url).base_url == url
    assert ClientConfig(SECRET, base_url=url).base_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2pw@127.0.0.1:8700/v1",
        "https://hunter2pw@api.smartpay.co/v1",
        "http://:hunter2pw@localhost/v1",
        "ftp://user:hunter2pw@example.com/v1",
    ],
)
def test_credentials_in_the_prefix_are_refused_without_echoing_them(url: str) -> None:
    """A user:password@ in the API prefix is a ConfigError that shows the URL with ***@ in
    place of the credentials and says where the key belongs instead."""
    with pytest.raises(ConfigError, match=r"^base_url: ") as caught:
        ClientConfig(SECRET, base_url=url)
    message = str(caught.value)
    assert "hunter2pw" not in message
    assert "***@" in message
    if url.startswith("http"):
        assert "user name or password" in message
        assert "SMARTPAY_SECRET_KEY" in message


@pytest.mark.parametrize("url", ["http://[::1/v1", "http://127.0.0.1:99999/v1"])
def test_unparseable_prefix_is_a_config_error(url: str) -> None:
    """A URL urllib cannot take apart (broken IPv6 brackets, port out of range) is a
    ConfigError naming base_url, not a ValueError from deep inside."""
    with pytest.raises(ConfigError, match=r"^base_url: not a usable URL"):
        ClientConfig(SECRET, base_url=url)


def test_base_url_trailing_slash_is_dropped() -> None:
    """Paths are appended to base_url, so a trailing slash would double up."""
    assert ClientConfig(SECRET, base_url="http://127.0.0.1:9/v1/").base_url == (
        "http://127.0.0.1:9/v1"
    )


def test_from_env_reads_both_variables_and_strips_them() -> None:
    """SMARTPAY_SECRET_KEY and SMARTPAY_API_PREFIX are read, stray whitespace removed."""
    env = {"SMARTPAY_SECRET_KEY": f" {SECRET}\n", "SMARTPAY_API_PREFIX": "http://127.0.0.1:1/v1"}
    config = ClientConfig.from_env(env, max_in_flight=2)
    assert config.secret_key == SECRET
    assert config.base_url == "http://127.0.0.1:1/v1"
    assert config.max_in_flight == 2


def test_from_env_arguments_win_over_the_environment() -> None:
    """An explicit secret or base URL overrides the environment's."""
    env = {"SMARTPAY_SECRET_KEY": "sk_test_fromenv", "SMARTPAY_API_PREFIX": "https://a.test/v1"}
    config = ClientConfig.from_env(env, secret_key=SECRET, base_url="https://b.test/v1")
    assert (config.secret_key, config.base_url) == (SECRET, "https://b.test/v1")


def test_from_env_without_prefix_uses_the_public_api() -> None:
    """No SMARTPAY_API_PREFIX means https://api.smartpay.co/v1."""
    assert ClientConfig.from_env({"SMARTPAY_SECRET_KEY": SECRET}).base_url == DEFAULT_BASE_URL


def test_from_env_without_a_key_says_which_variable() -> None:
    """A missing key is a ConfigError naming SMARTPAY_SECRET_KEY."""
    with pytest.raises(ConfigError, match="SMARTPAY_SECRET_KEY"):
        ClientConfig.from_env({})


def test_with_changes_validates_again() -> None:
    """A copy with changed fields is checked like a new config."""
    config = ClientConfig(SECRET)
    assert config.with_changes(max_attempts=2).max_attempts == 2
    with pytest.raises(ConfigError, match=r"^max_attempts: "):
        config.with_changes(max_attempts=0)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "127.0.0.1.example.com", "localhost.evil"])
def test_hosts_that_only_look_local_get_no_key_over_http(host: str) -> None:
    """0.0.0.0, a private address or a name that merely starts like loopback is not this
    machine: plain http to it is refused."""
    with pytest.raises(ConfigError, match="plain http"):
        ClientConfig(secret_key="sk_test_Abc1", base_url=f"http://{host}:8700/v1")
