"""Every page and error path of the console, against the sandbox over loopback."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from batch_refunds.cli.main import main
from batch_refunds.journal import JournalLock
from batch_refunds.models import Status
from tests.console.conftest import (
    KEY,
    SAMPLE,
    SCRIPT,
    Console,
    MakeConsole,
    sample_with_an_invalid_row,
)


def _posts(console: Console) -> int:
    requests = console.sandbox.state.stats.requests.items()
    return sum(n for (method, _route, _status), n in requests if method == "POST")


def _upload_id(location: str) -> str:
    assert location.startswith("/uploads/"), location
    return location.rsplit("/", 1)[1]


async def _planned(console: Console, path: Path) -> tuple[str, str]:
    """Upload ``path`` and plan it; (upload id, plan run id) once the plan has finished."""
    status, location, _ = await console.upload(path)
    assert status == 303
    upload_id = _upload_id(location)
    await console.get(location)
    status, location, _ = await console.post(f"/uploads/{upload_id}/plan")
    assert status == 303, location
    run_id = location.rsplit("/", 1)[1]
    await console.wait_finished(run_id)
    return upload_id, run_id


async def test_the_upload_page_sets_a_strict_http_only_session_cookie(
    make_console: MakeConsole,
) -> None:
    """The first page sets the session cookie HttpOnly and SameSite=Strict and carries a
    CSRF token in its form; the CSP allows no inline script."""
    console = await make_console()
    response = await console.client.get("/")
    assert response.status == 200
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'name="_csrf"' in await response.text()


async def test_an_upload_is_stored_under_the_journal_with_a_generated_name(
    make_console: MakeConsole, tmp_path: Path
) -> None:
    """The file lands in <journal folder>/console/uploads as <random id>.csv: the uploaded
    name (here a path) is never used as a path."""
    console = await make_console()
    status, location, _ = await console.upload(SAMPLE, name="../../evil/name.csv")
    assert status == 303
    upload_id = _upload_id(location)
    stored = list((console.journal.parent / "console" / "uploads").glob("*.csv"))
    assert [p.name for p in stored] == [f"{upload_id}.csv"]
    assert not (tmp_path / "evil").exists()


async def test_the_check_page_shows_what_was_detected_and_the_counts(
    make_console: MakeConsole,
) -> None:
    """Format, encoding, header row and column mapping are shown, with the counts."""
    console = await make_console()
    _, location, _ = await console.upload(SAMPLE)
    status, page = await console.get(location)
    assert status == 200
    assert "CSV" in page
    assert "utf-8" in page
    assert "&quot;amount&quot; → amount" in page
    assert 'id="counts"' in page
    assert "¥62,680" in page
    assert 'id="invalid-rows"' not in page


async def test_an_invalid_row_is_listed_escaped_and_downloadable(
    make_console: MakeConsole, tmp_path: Path
) -> None:
    """Row 15's error is in the table; its <script> description is text, never markup;
    invalid_rows.csv holds the row."""
    console = await make_console()
    _, location, _ = await console.upload(sample_with_an_invalid_row(tmp_path / "r.csv"))
    _, page = await console.get(location)
    assert 'id="invalid-rows"' in page
    assert "1500.5" in page
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    response = await console.client.get(f"{location}/invalid_rows.csv")
    assert response.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[0] == ["row", "column", "value", "code", "message"]
    assert [r[0] for r in rows[1:]] == ["15"]


async def test_a_file_that_cannot_be_used_says_why(
    make_console: MakeConsole, tmp_path: Path
) -> None:
    """A file without an id column shows intake's refusal; one not a spreadsheet is 400."""
    console = await make_console()
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n", encoding="utf-8")
    _, location, _ = await console.upload(bad)
    status, page = await console.get(location)
    assert status == 200
    assert 'id="refusal"' in page
    assert 'id="plan"' not in page
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ")
    status, _, page = await console.upload(exe)
    assert status == 400
    assert "not a spreadsheet" in page


async def test_a_file_over_the_size_limit_is_refused_and_not_kept(
    make_console: MakeConsole, tmp_path: Path
) -> None:
    """Past max_upload_bytes the upload is 413 and nothing is left on disk."""
    console = await make_console(max_upload_bytes=2000)
    big = tmp_path / "big.csv"
    big.write_text("order_id,amount\n" + "order_test_x,1\n" * 500, encoding="utf-8")
    status, _, page = await console.upload(big)
    assert status == 413
    assert "larger than" in page
    assert list((console.journal.parent / "console" / "uploads").glob("*.csv")) == []


@pytest.mark.parametrize("token", ["", "wrong"])
async def test_a_form_without_the_sessions_csrf_token_is_refused(
    make_console: MakeConsole, token: str
) -> None:
    """An upload, a plan, a stop and a sign-out with a missing or wrong token are 403."""
    console = await make_console()
    _, location, _ = await console.upload(SAMPLE)
    upload_id = _upload_id(location)
    good = console.csrf
    console.csrf = token
    status, _, _ = await console.upload(SAMPLE)
    assert status == 403
    for path in (f"/uploads/{upload_id}/plan", f"/uploads/{upload_id}/options", "/logout"):
        status, _, page = await console.post(path)
        assert status == 403, path
        assert "expired" in page
    assert good


async def test_a_column_mapping_fixes_a_file_refused_for_its_amount_column(
    make_console: MakeConsole, tmp_path: Path
) -> None:
    """Intake's refusal of an ambiguous amount column is fixed on the page with the same
    NAME=HEADER mapping as --column."""
    console = await make_console()
    path = tmp_path / "ja.csv"
    path.write_text("注文ID,返金額 税込\norder_test_SKz0RicsUVrAdXTqTVJY,1200\n", encoding="utf-8")
    _, location, _ = await console.upload(path)
    _, page = await console.get(location)
    assert 'id="refusal"' in page
    upload_id = _upload_id(location)
    status, _, _ = await console.post(f"/uploads/{upload_id}/options",
                                      {"columns": 'amount="返金額 税込"'})  # fmt: skip
    assert status == 303
    _, page = await console.get(location)
    assert 'id="refusal"' not in page
    assert "(--column)" in page
    assert 'id="plan"' in page


async def test_plan_approve_run_and_report_end_to_end(make_console: MakeConsole) -> None:
    """Plan shows the count and total to approve; approving runs it; the report page and
    its three downloads are the run's own files; the sandbox holds exactly those refunds;
    no response ever carries the secret key."""
    console = await make_console()
    seen: list[str] = []
    upload_id, plan_id = await _planned(console, SAMPLE)
    status, page = await console.get(f"/runs/{plan_id}")
    seen.append(page)
    assert status == 200
    assert 'id="approve"' in page
    assert "Send 12 refund(s), ¥116,180 in total?" in page
    assert _posts(console) == 0  # the plan sent nothing
    before = {r.id for r in console.sandbox.state.all_refunds()}
    status, location, _ = await console.post(f"/runs/{plan_id}/approve")
    assert status == 303
    run_id = location.rsplit("/", 1)[1]
    await console.wait_finished(run_id)
    status, page = await console.get(location)
    seen.append(page)
    assert 'id="report"' in page
    assert "¥116,180" in page
    made = [r for r in console.sandbox.state.all_refunds() if r.id not in before]
    assert sum(r.amount for r in made) == 116_180
    files = {}
    for name in ("reconciliation.csv", "reconciliation.xlsx", "summary.json"):
        response = await console.client.get(f"/runs/{run_id}/files/{name}")
        assert response.status == 200, name
        files[name] = await response.read()
        seen += [str(response.headers), files[name].decode("utf-8", "replace")]
    summary = json.loads(files["summary.json"])
    assert summary["run_id"] == run_id
    assert summary["mode"] == "run"
    rows = list(csv.DictReader(io.StringIO(files["reconciliation.csv"].decode("utf-8-sig"))))
    ids = {i for r in rows for i in r["refund_ids"].split(";") if i}
    assert ids == {r.id for r in made}
    status, page = await console.get(f"/runs/{run_id}?status=refunded&q=RF-2026-1107")
    seen.append(page)
    assert "1 of 12 rows" in page
    assert "¥22,000" in page
    for path in ("/", "/runs", f"/uploads/{upload_id}", f"/runs/{run_id}/progress.json"):
        seen.append((await console.get(path))[1])
    assert not any(KEY in text for text in seen)
    assert not any(KEY[8:] in text for text in seen)


async def test_the_uploader_cannot_approve_under_maker_checker(make_console: MakeConsole) -> None:
    """With require_approval, the person who uploaded is refused (403) and nothing is sent;
    a second person's approval runs it."""
    console = await make_console(accounts=True, require_approval=True)
    await console.login("maker")
    _, plan_id = await _planned(console, SAMPLE)
    _, page = await console.get(f"/runs/{plan_id}")
    assert 'id="own-upload"' in page
    assert 'id="approve"' not in page
    status, _, page = await console.post(f"/runs/{plan_id}/approve")
    assert status == 403
    assert _posts(console) == 0
    await console.post("/logout")
    await console.login("checker")
    _, page = await console.get(f"/runs/{plan_id}")
    assert 'id="approve"' in page
    assert "Uploaded by maker" in page
    status, location, _ = await console.post(f"/runs/{plan_id}/approve")
    assert status == 303
    await console.wait_finished(location.rsplit("/", 1)[1])
    assert _posts(console) >= 12


async def test_sign_in_is_required_with_accounts(make_console: MakeConsole) -> None:
    """With accounts every page but sign-in redirects there; a wrong password is 401."""
    console = await make_console(accounts=True)
    response = await console.client.get("/runs", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login"
    await console.get("/login")
    status, _, page = await console.post("/login", {"name": "maker", "password": "nope"})
    assert status == 401
    assert "Wrong name or password" in page
    assert "checker-password" not in page


async def test_a_second_run_while_one_is_active_is_refused(make_console: MakeConsole) -> None:
    """While a plan is in flight (the sandbox answers slowly) another start is 409; the
    Stop button ends the first gracefully."""
    console = await make_console()
    console.sandbox.knobs.latency_ms = 400
    _, location, _ = await console.upload(SAMPLE)
    upload_id = _upload_id(location)
    await console.get(location)
    status, location, _ = await console.post(f"/uploads/{upload_id}/plan")
    run_id = location.rsplit("/", 1)[1]
    _, page = await console.get(location)
    assert 'id="progress"' in page
    assert 'id="stop"' in page
    status, _, page = await console.post(f"/uploads/{upload_id}/plan")
    assert status == 409
    assert "already in progress" in page
    status, _, _ = await console.post(f"/runs/{run_id}/stop")
    assert status == 303
    await console.wait_finished(run_id)
    _, page = await console.get(f"/runs/{run_id}")
    assert 'id="summary"' in page


async def test_a_journal_held_by_another_process_is_busy(make_console: MakeConsole) -> None:
    """A run of the CLI holding the journal makes the console's plan a 409, not a crash."""
    console = await make_console()
    _, location, _ = await console.upload(SAMPLE)
    await console.get(location)
    with JournalLock(console.journal):
        status, _, page = await console.post(f"{location}/plan")
    assert status == 409
    assert "already in progress" in page


async def test_the_runs_page_lists_runs_and_offers_to_resume_an_unfinished_one(
    make_console: MakeConsole,
) -> None:
    """A finished plan is listed; a run that never finished (the process died) on an
    uploaded file has a Resume button that plans it again."""
    console = await make_console()
    upload_id, plan_id = await _planned(console, SAMPLE)
    journal = console.client.app[
        __import__("batch_refunds.console.app").console.app.CONSOLE
    ].journal
    stored = next((console.journal.parent / "console" / "uploads").glob("*.csv"))
    journal.start_run("20260101T000000Z-dead00", mode="run", input_path=str(stored),
                      input_sha256="x", rows=12, started_at="2026-01-01T00:00:00Z")  # fmt: skip
    status, page = await console.get("/runs")
    assert status == 200
    assert plan_id in page
    assert "did not finish" in page
    assert f'action="/uploads/{upload_id}/plan"' in page
    assert "refunds_en.csv" in page  # the uploaded name, shown (escaped) not used


async def test_pages_speak_japanese_from_the_browser_or_the_switch(
    make_console: MakeConsole,
) -> None:
    """Accept-Language ja gives Japanese; ?lang=en switches the session to English."""
    console = await make_console()
    _, page = await console.get("/", headers={"Accept-Language": "ja,en;q=0.5"})
    assert "返金ファイルをアップロード" in page
    _, page = await console.get("/?lang=en", headers={"Accept-Language": "ja"})
    assert "Upload a refund spreadsheet" in page
    _, page = await console.get("/runs", headers={"Accept-Language": "ja"})
    assert "Runs" in page
    assert "実行履歴" not in page.split("<main>")[1]


async def test_an_unknown_host_header_is_refused(make_console: MakeConsole) -> None:
    """Bound to loopback, the console answers only its own Host (no DNS rebinding)."""
    console = await make_console(allowed_hosts=frozenset({"127.0.0.1:1"}))
    response = await console.client.get("/", headers={"Host": "evil.example"})
    assert response.status == 421


async def test_unknown_pages_and_files_are_404(make_console: MakeConsole) -> None:
    """An unknown upload or run, or a file name outside the report's three, is 404."""
    console = await make_console()
    assert (await console.client.get("/uploads/../../etc")).status == 404
    assert (await console.client.get("/uploads/0123456789abcdef01234567")).status == 404
    assert (await console.client.get("/runs/nope")).status == 404
    assert (await console.client.get("/runs/nope/files/journal.sqlite3")).status == 404


def test_serve_refuses_to_listen_beyond_loopback_without_accounts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--host 0.0.0.0 without --auth-file exits 2 before listening."""
    assert main(["serve", "--host", "0.0.0.0", "--sandbox"]) == 2
    assert "--auth-file" in capsys.readouterr().err


def test_status_values_are_the_reports() -> None:
    """The report filter offers exactly the statuses a report row can have."""
    assert {s.value for s in Status} >= {"refunded", "invalid", "planned"}


async def test_a_row_held_as_maybe_changed_is_sent_once_the_person_says_it_is_new(
    make_console: MakeConsole, tmp_path: Path
) -> None:
    """A row refunded without a reference, uploaded again with one, is held by the plan;
    ticking "new refunds" on the file's page plans it to be sent."""
    console = await make_console()
    state = console.sandbox.state
    order = state.add_order(amount=5000)
    state.add_payment(order.id, 5000)
    first = tmp_path / "first.csv"
    first.write_text(f"order_id,amount\n{order.id},1000\n", encoding="utf-8")
    _, plan_id = await _planned(console, first)
    status, location, _ = await console.post(f"/runs/{plan_id}/approve")
    assert status == 303
    await console.wait_finished(location.rsplit("/", 1)[1])
    edited = tmp_path / "edited.csv"
    edited.write_text(f"order_id,amount,reference\n{order.id},1000,RMA-1\n", encoding="utf-8")

    upload_id, plan_id = await _planned(console, edited)
    _, page = await console.get(f"/runs/{plan_id}")
    assert "hold.earlier-row-missing" in page
    assert 'id="approve"' not in page

    status, _, _ = await console.post(f"/uploads/{upload_id}/options", {"new_refunds": "1"})
    assert status == 303
    status, location, _ = await console.post(f"/uploads/{upload_id}/plan")
    assert status == 303
    plan_id = location.rsplit("/", 1)[1]
    await console.wait_finished(plan_id)
    _, page = await console.get(f"/runs/{plan_id}")
    assert "Send 1 refund(s), ¥1,000 in total?" in page


async def test_a_file_of_shop_order_numbers_is_planned_and_run_like_any_other(
    make_console: MakeConsole,
) -> None:
    """The console takes the shop-number sample as the CLI does: 注文番号 read as the shop's
    numbers, each resolved to its order, and the run refunds exactly what the plan showed."""
    console = await make_console()
    upload_id, plan_id = await _planned(console, SAMPLE.parent / "refunds_shop_numbers.csv")
    _, page = await console.get(f"/uploads/{upload_id}")
    assert "shop_order" in page
    _, page = await console.get(f"/runs/{plan_id}")
    assert "Send 5 refund(s), ¥44,890 in total?" in page
    before = {r.id for r in console.sandbox.state.all_refunds()}
    status, location, _ = await console.post(f"/runs/{plan_id}/approve")
    assert status == 303
    run_id = location.rsplit("/", 1)[1]
    await console.wait_finished(run_id)
    response = await console.client.get(f"/runs/{run_id}/files/reconciliation.csv")
    rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert [r["status"] for r in rows] == ["refunded"] * 5
    assert rows[2]["shop_order"] == "ＯＲＤ－２０２６－００１０３"
    assert all(r["order_id"].startswith("order_test_") for r in rows)
    made = [r for r in console.sandbox.state.all_refunds() if r.id not in before]
    assert sum(r.amount for r in made) == 44_890
