"""A row without a reference, changed after it was refunded, is never refunded twice.

Without a merchant reference a row is known only by what it asks (its order and amount), so
adding a reference to it, correcting its amount, or a column this version newly reads makes
it a new row. A refund the tool made for a row without a reference that is no longer in the
file may be that row's: the rows it could be are held, unless the person says they are new
refunds (``new_refunds``, ``--new-refunds``). Each story runs with the journal kept and lost,
and with the payment's refunds listed as objects, as ids and not at all.
"""

from __future__ import annotations

import pytest

from batch_refunds.exit_codes import EXIT_OK, EXIT_ROWS_NOT_DONE
from batch_refunds.models import Mode, Status
from tests.run.conftest import Harness, statuses
from tests.run.test_run_references import JOURNAL, lose_journal_if

LISTED = ["objects", "ids", "absent"]
HOLD = "hold.earlier-row-missing"


@pytest.mark.parametrize("listed", LISTED)
@pytest.mark.parametrize("journal", JOURNAL)
async def test_a_reference_added_to_a_refunded_row_sends_nothing_again(
    harness: Harness, journal: str, listed: str
) -> None:
    """¥1,000 refunded for a row without a reference; the sheet now gives it RMA-1: the row is
    held with the earlier refund in its message, nothing is sent, the run exits 1."""
    harness.server.knobs.payment_refunds = listed  # type: ignore[assignment]
    oid, (pid,) = harness.order(5000, 5000)
    first = await harness.run(harness.write([(oid, None, 1000, None)]))
    assert statuses(first) == [Status.REFUNDED]
    lose_journal_if(harness, journal)
    posts = harness.posts()

    result = await harness.run(harness.write([(oid, None, 1000, "RMA-1")], name="edited.csv"))

    (row,) = result.outcomes
    assert (row.status, row.error_code) == (Status.HELD, HOLD)
    assert "¥1,000" in (row.message or "")
    assert first.outcomes[0].refund_ids[0] in (row.message or "")
    assert "allowing new refunds" in (row.message or "")
    assert harness.posts() == posts
    assert [r.amount for r in harness.refunds(pid)] == [1000]
    assert result.summary.exit_code == EXIT_ROWS_NOT_DONE


@pytest.mark.parametrize("journal", JOURNAL)
async def test_a_corrected_amount_without_a_reference_is_held_not_refunded_in_full(
    harness: Harness, journal: str
) -> None:
    """¥1,000 refunded for a row without a reference, its amount corrected to ¥1,200: the
    row is held naming both figures, instead of ¥1,200 more going out."""
    oid, (pid,) = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, None)]))
    lose_journal_if(harness, journal)

    result = await harness.run(harness.write([(oid, None, 1200, None)], name="corrected.csv"))

    (row,) = result.outcomes
    assert (row.status, row.error_code) == (Status.HELD, HOLD)
    assert "¥1,000" in (row.message or "")
    assert "¥1,200" in (row.message or "")
    assert [r.amount for r in harness.refunds(pid)] == [1000]


async def test_plan_shows_the_hold_too(harness: Harness) -> None:
    """``plan`` holds the same row, so the preview never shows a refund the run won't send."""
    oid, _ = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, None)]))
    result = await harness.run(
        harness.write([(oid, None, 1000, "RMA-1")], name="edited.csv"), mode=Mode.PLAN
    )
    assert [(o.status, o.error_code) for o in result.outcomes] == [(Status.HELD, HOLD)]


async def test_new_refunds_sends_what_the_person_says_is_new(harness: Harness) -> None:
    """With ``new_refunds`` the same row is a second return: ¥1,000 more is sent, once."""
    oid, (pid,) = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, None)]))
    second = harness.write([(oid, None, 1000, "RMA-2")], name="second.csv")

    result = await harness.run(second, new_refunds=True)

    assert statuses(result) == [Status.REFUNDED]
    assert sorted(r.amount for r in harness.refunds(pid)) == [1000, 1000]
    again = await harness.run(second)  # the row is now the file's own: nothing is held
    assert statuses(again) == [Status.ALREADY_REFUNDED]
    assert again.summary.exit_code == EXIT_OK


async def test_the_same_file_again_is_already_refunded_not_held(harness: Harness) -> None:
    """A re-run of the unchanged file: its row made the refund, so it is done, not held."""
    oid, _ = harness.order(5000, 5000)
    path = harness.write([(oid, None, 1000, None), (oid, None, 700, None)])
    await harness.run(path)
    again = await harness.run(path)
    assert statuses(again) == [Status.ALREADY_REFUNDED, Status.ALREADY_REFUNDED]


async def test_a_new_row_beside_the_refunded_one_in_a_cumulative_file_is_sent(
    harness: Harness,
) -> None:
    """A cumulative sheet keeps its refunded row and gains another on the same order: the
    earlier refund is its own row's, so the new row is sent."""
    oid, (pid,) = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, None)]))
    grown = harness.write([(oid, None, 1000, None), (oid, None, 300, None)], name="grown.csv")
    result = await harness.run(grown)
    assert statuses(result) == [Status.ALREADY_REFUNDED, Status.REFUNDED]
    assert sorted(r.amount for r in harness.refunds(pid)) == [300, 1000]


async def test_rows_with_their_own_references_are_not_held(harness: Harness) -> None:
    """Monday's file refunded RMA-1; Tuesday's file holds only RMA-2 on the same order: a
    merchant reference says which return a row is, so RMA-2 is sent."""
    oid, (pid,) = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, "RMA-1")]))
    result = await harness.run(harness.write([(oid, None, 500, "RMA-2")], name="tuesday.csv"))
    assert statuses(result) == [Status.REFUNDED]
    assert sorted(r.amount for r in harness.refunds(pid)) == [500, 1000]


async def test_a_full_refund_row_refunds_what_remains(harness: Harness) -> None:
    """A blank amount asks for everything left: an earlier refund only lowers what remains,
    and the payment ends refunded in full, never beyond."""
    oid, (pid,) = harness.order(5000, 5000)
    await harness.run(harness.write([(oid, None, 1000, None)]))
    result = await harness.run(harness.write([(oid, None, None, "RMA-1")], name="all.csv"))
    assert statuses(result) == [Status.REFUNDED]
    assert result.outcomes[0].refunded_amount == 4000
    assert sorted(r.amount for r in harness.refunds(pid)) == [1000, 4000]


async def test_a_dashboard_refund_without_a_reference_holds_nothing(harness: Harness) -> None:
    """A refund made in the dashboard carries no marker: it lowers what remains, as before,
    and holds no row."""
    oid, (pid,) = harness.order(5000, 5000, refunded=[(0, 1000)])
    result = await harness.run(harness.write([(oid, None, 1500, None)]))
    assert statuses(result) == [Status.REFUNDED]
    assert sorted(r.amount for r in harness.refunds(pid)) == [1000, 1500]
