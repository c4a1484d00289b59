"""A wrong key or API prefix stops the run: nothing is sent and no row is blamed for it."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Awaitable, Callable
from typing import Any

from batch_refunds.cli.render import print_summary
from batch_refunds.exit_codes import EXIT_NOT_STARTED, EXIT_ROWS_NOT_DONE
from batch_refunds.models import CreateRefund, Refund, Status
from batch_refunds.runner import RunResult
from tests.run.conftest import KEY, Harness, statuses


def terminal(result: RunResult) -> str:
    out = io.StringIO()
    print_summary(result, out)
    return out.getvalue()


MakeHarness = Callable[..., Awaitable[Harness]]


def gets(harness: Harness) -> int:
    return sum(
        n for (method, _route, _status), n in harness.server.state.stats.requests.items()
        if method == "GET"
    )  # fmt: skip


def unauthorized(harness: Harness) -> int:
    return sum(
        n for (_method, _route, status), n in harness.server.state.stats.requests.items()
        if status == 401
    )  # fmt: skip


async def test_wrong_key_sends_nothing_and_blames_no_row(make_harness: MakeHarness) -> None:
    """A key Smartpay refuses: one request proves it, every row is failed (safe to re-run)
    with the key named as the likely cause, the report accounts for every row, exit 2."""
    harness = await make_harness(secret=KEY)
    orders = [harness.order(1000, 1000)[0] for _ in range(5)]
    path = harness.write([(oid, None, 100, f"R{i}") for i, oid in enumerate(orders)])
    result = await harness.run(path, key="sk_test_SomeoneElsesKey9")
    assert statuses(result) == [Status.FAILED] * 5
    assert {o.error_code for o in result.outcomes} == {"run.misconfigured"}
    assert "key" in (result.outcomes[0].message or "")
    assert result.summary.requests.total == 1
    assert harness.posts() == 0
    assert result.summary.exit_code == EXIT_NOT_STARTED
    assert "key" in (result.summary.stop_reason or "")
    assert "Nothing was sent: the secret key" in terminal(result)
    assert "SomeoneElses" not in result.report.csv.read_text(encoding="utf-8-sig")


async def test_api_prefix_without_v1_sends_nothing(harness: Harness) -> None:
    """A prefix missing /v1 answers 404 from no Smartpay route: a configuration error that
    names the prefix, not a row 'rejected http.404'."""
    oid, _ = harness.order(1000, 1000)
    result = await harness.run(
        harness.write([(oid, None, 100, "R")]), base_url=harness.server.root_url
    )
    (row,) = result.outcomes
    assert (row.status, row.error_code) == (Status.FAILED, "run.misconfigured")
    assert "/v1" in (row.message or "")
    assert harness.posts() == 0
    assert result.summary.exit_code == EXIT_NOT_STARTED


async def test_api_prefix_doubling_v1_sends_nothing(harness: Harness) -> None:
    """A prefix ending /v1/v1 is caught the same way."""
    oid, _ = harness.order(1000, 1000)
    result = await harness.run(
        harness.write([(oid, None, 100, "R")]), base_url=harness.server.base_url + "/v1"
    )
    assert [o.error_code for o in result.outcomes] == ["run.misconfigured"]
    assert result.summary.exit_code == EXIT_NOT_STARTED


async def test_finished_file_sends_no_request_even_to_check_the_key(harness: Harness) -> None:
    """A re-run of a finished file needs nothing from Smartpay: not even the access check."""
    oid, _ = harness.order(1000, 1000)
    path = harness.write([(oid, None, 100, "R")])
    await harness.run(path)
    again = await harness.run(path)
    assert again.summary.requests.total == 0


class RevokedAfterFirstRefund:
    """The real client, but after its first refund the sandbox stops accepting the key (as
    if it were rolled in Smartpay's dashboard mid-run)."""

    def __init__(self, client: Any, harness: Harness) -> None:
        self._client = client
        self._harness = harness

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        refund: Refund = await self._client.create_refund(body, idempotency_key=idempotency_key)
        sandbox = self._harness.server.sandbox
        sandbox.config = dataclasses.replace(sandbox.config, secret="sk_test_RolledKey0001")
        return refund


async def test_key_revoked_mid_run_stops_at_once(harness: Harness) -> None:
    """A 401 mid-run stops the run: no row after it is tried, none is 'rejected', and a
    re-run with a good key finishes the rest exactly once."""
    orders = [harness.order(1000, 1000)[0] for _ in range(6)]
    path = harness.write([(oid, None, 100, f"R{i}") for i, oid in enumerate(orders)])
    result = await harness.run(
        path, concurrency=1, wrap_api=lambda client: RevokedAfterFirstRefund(client, harness)
    )
    codes = [o.error_code for o in result.outcomes]
    assert statuses(result)[0] is Status.REFUNDED
    assert set(statuses(result)[1:]) == {Status.FAILED}
    assert set(codes[1:]) == {"run.misconfigured"}
    assert Status.REJECTED not in statuses(result)
    assert result.summary.exit_code == EXIT_ROWS_NOT_DONE  # one refund was made
    assert "Stopped early: the secret key" in terminal(result)
    # One request met the 401 (the next order's GET or POST, whichever went first while the
    # first row's intents committed) and none was sent after it; one refund was made.
    assert unauthorized(harness) == 1
    assert len(harness.refunds()) == 1
    sandbox = harness.server.sandbox
    sandbox.config = dataclasses.replace(sandbox.config, secret=KEY)
    again = await harness.run(path)
    assert statuses(again) == [Status.ALREADY_REFUNDED] + [Status.REFUNDED] * 5
    assert len(harness.refunds()) == 6


class RevokedBeforeSecondPost:
    """The real client; the key is rolled right before the second refund POST is sent, so
    that POST is the request that meets the 401."""

    def __init__(self, client: Any, harness: Harness) -> None:
        self._client = client
        self._harness = harness
        self._posts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def create_refund(self, body: CreateRefund, *, idempotency_key: str) -> Refund:
        self._posts += 1
        if self._posts == 2:
            sandbox = self._harness.server.sandbox
            sandbox.config = dataclasses.replace(sandbox.config, secret="sk_test_RolledKey0001")
        refund: Refund = await self._client.create_refund(body, idempotency_key=idempotency_key)
        return refund


async def test_key_revoked_at_a_refund_post_fails_the_row_and_resends_it_later(
    harness: Harness,
) -> None:
    """A 401 answering a refund POST: the row is failed (not rejected), nothing after it is
    tried, and once the key is fixed the same request is sent again exactly once."""
    orders = [harness.order(1000, 1000)[0] for _ in range(4)]
    path = harness.write([(oid, None, 100, f"R{i}") for i, oid in enumerate(orders)])
    result = await harness.run(
        path, concurrency=1, wrap_api=lambda client: RevokedBeforeSecondPost(client, harness)
    )
    assert statuses(result) == [Status.REFUNDED] + [Status.FAILED] * 3
    assert result.outcomes[1].attempts == 1  # its POST was the one refused
    assert {o.error_code for o in result.outcomes[1:]} == {"run.misconfigured"}
    sandbox = harness.server.sandbox
    sandbox.config = dataclasses.replace(sandbox.config, secret=KEY)
    again = await harness.run(path)
    assert statuses(again) == [Status.ALREADY_REFUNDED] + [Status.REFUNDED] * 3
    assert sorted(r.reference for r in harness.refunds()) == ["R0", "R1", "R2", "R3"]
