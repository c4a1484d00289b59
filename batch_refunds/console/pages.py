"""The console's pages as HTML, built from escaped parts (see ``html``).

Each function takes what the library returned (a ``LoadResult``, a ``RunRecord``, a
``RunResult``, the report's own CSV rows) and the language, and returns ``Markup``. Money is
shown with ``money.format_yen``; no amount is worked out here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from batch_refunds.console.html import Markup, join, render, tag

__all__ = ["Chrome", "Markup", "tag"]
from batch_refunds.console.i18n import TEXT, local_time, t
from batch_refunds.console.uploads import SUFFIXES, Upload
from batch_refunds.intake.load import LoadResult
from batch_refunds.journal import RunRecord
from batch_refunds.models import Status
from batch_refunds.money import format_yen
from batch_refunds.progress import Snapshot
from batch_refunds.runner import PlanTotals, RunResult

YEN_COLUMNS = frozenset({"requested_amount", "refundable_before", "already_refunded",
                         "refunded_amount"})  # fmt: skip
PREVIEW_ROWS = 10
TABLE_ROWS_SHOWN = 1000


@dataclass(frozen=True)
class Chrome:
    """What every page's frame shows."""

    lang: str
    csrf: str
    user: str | None
    sandbox: bool
    live: bool
    path: str


def layout(c: Chrome, title: str, body: Markup) -> Markup:
    nav = [
        tag("a", t(c.lang, "nav.upload"), href="/"),
        tag("a", t(c.lang, "nav.runs"), href="/runs"),
    ]
    switch = [
        tag("a", label, href=f"{c.path}?lang={code}", class_="on" if c.lang == code else None)
        for code, label in (("en", "English"), ("ja", "日本語"))
    ]
    who = Markup("")
    if c.user is not None:
        who = join([
            tag("span", t(c.lang, "signed_in", user=c.user), class_="user"),
            form("/logout", c.csrf, tag("button", t(c.lang, "nav.logout"), class_="link")),
        ])  # fmt: skip
    banner = Markup("")
    if c.sandbox:
        banner = tag("div", t(c.lang, "sandbox"), class_="banner sandbox")
    elif c.live:
        banner = tag("div", t(c.lang, "live"), class_="banner live")
    return render(
        """<!doctype html>
<html lang="$lang"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title · $app</title>
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script></head>
<body>$banner<header><strong>$app</strong><nav>$nav</nav>
<span class="lang">$switch</span>$who</header>
<main>$body</main></body></html>""",
        lang=c.lang, title=title, app=t(c.lang, "title"), banner=banner,
        nav=join(nav), switch=join(switch), who=who, body=body,
    )  # fmt: skip


def form(action: str, csrf: str, *children: object, **attrs: object) -> Markup:
    return tag(
        "form",
        tag("input", type="hidden", name="_csrf", value=csrf),
        *children,
        method="post",
        action=action,
        **attrs,
    )


def table(header: Sequence[object], rows: Sequence[Sequence[object]], **attrs: object) -> Markup:
    head = tag("tr", *[tag("th", h) for h in header])
    body = [tag("tr", *[tag("td", cell) for cell in row]) for row in rows]
    return tag("table", tag("thead", head), tag("tbody", *body), **attrs)


def message_page(c: Chrome, title: str, message: str, back: str | None = None) -> Markup:
    link = tag("p", tag("a", t(c.lang, "back"), href=back)) if back else Markup("")
    return layout(c, title, join([tag("h1", title), tag("p", message, class_="error"), link]))


def login_page(c: Chrome, failed: bool) -> Markup:
    lang = c.lang
    return layout(c, t(lang, "login.title"), join([
        tag("h1", t(lang, "login.title")),
        tag("p", t(lang, "login.failed"), class_="error") if failed else "",
        form("/login", c.csrf,
             tag("label", t(lang, "login.name"), tag("input", name="name", required=True)),
             tag("label", t(lang, "login.password"),
                 tag("input", name="password", type="password", required=True)),
             tag("button", t(lang, "login.submit"))),
    ]))  # fmt: skip


def upload_page(c: Chrome, limit_mb: int) -> Markup:
    lang = c.lang
    picker = tag("input", type="file", name="file", id="file", accept=",".join(SUFFIXES),
                 required=True)  # fmt: skip
    zone = tag("div", tag("p", t(lang, "upload.help", limit=limit_mb)), picker, id="drop",
               class_="drop")  # fmt: skip
    return layout(c, t(lang, "upload.title"), join([
        tag("h1", t(lang, "upload.title")),
        form("/upload", c.csrf, zone, tag("button", t(lang, "upload.submit"), id="upload-submit"),
             enctype="multipart/form-data", id="upload-form"),
    ]))  # fmt: skip


def _mapping_form(c: Chrome, upload: Upload) -> Markup:
    lang = c.lang
    lines = "\n".join(f'{name}="{header}"' for name, header in upload.columns.items())
    return tag("section", tag("h2", t(lang, "upload.mapping")), form(
        f"/uploads/{upload.id}/options", c.csrf,
        tag("p", t(lang, "upload.mapping_help"), class_="help"),
        tag("textarea", lines, name="columns", rows="3", cols="60", id="columns"),
        tag("label", tag("input", type="checkbox", name="full_refunds", value="1",
                         checked=upload.full_refunds), t(lang, "upload.full_refunds")),
        tag("label", tag("input", type="checkbox", name="allow_duplicate_rows", value="1",
                         checked=upload.allow_duplicate_rows), t(lang, "upload.duplicates")),
        tag("label", tag("input", type="checkbox", name="new_refunds", value="1",
                         checked=upload.new_refunds), t(lang, "upload.new_refunds")),
        tag("button", t(lang, "upload.apply"), id="apply-columns"),
    ))  # fmt: skip


def checked_page(
    c: Chrome, upload: Upload, loaded: LoadResult | None, refusal: str | None
) -> Markup:
    lang = c.lang
    parts: list[object] = [
        tag("h1", t(lang, "upload.result")),
        tag("p", t(lang, "upload.file"), ": ", tag("strong", upload.original_name)),
    ]
    if loaded is None:
        parts += [tag("section", tag("h2", t(lang, "upload.unusable")),
                      tag("p", refusal or "", class_="error", id="refusal"))]  # fmt: skip
        parts.append(_mapping_form(c, upload))
        return layout(c, t(lang, "upload.result"), join(parts))
    d = loaded.detected
    encoding = d.encoding or ""
    if d.delimiter:
        encoding += f" · {d.delimiter!r}"
    columns = [
        tag("li", f'"{header}" → {name}', " (--column)" if name in d.explicit_columns else "")
        for header, name in d.columns
    ]
    parts.append(tag("section", tag("h2", t(lang, "upload.detected")), table(
        [t(lang, "upload.format"), t(lang, "upload.encoding"), t(lang, "upload.header"),
         t(lang, "upload.columns"), t(lang, "upload.ignored")],
        [[d.format.upper() + (f" ({d.sheet})" if d.sheet else ""), encoding,
          str(d.header_row), tag("ul", *columns), ", ".join(d.ignored_columns)]],
        id="detected",
    )))  # fmt: skip
    counts = [
        (t(lang, "upload.rows"), loaded.total_rows),
        (t(lang, "upload.valid"), len(loaded.requests)),
        (t(lang, "upload.invalid"), len(loaded.invalid_rows)),
        (t(lang, "upload.blank"), loaded.skipped_blank_rows),
        (t(lang, "upload.totals"), loaded.skipped_total_rows),
        (t(lang, "upload.full"), loaded.full_refund_count),
        (t(lang, "upload.requested"), format_yen(loaded.requested_yen)),
    ]
    parts.append(tag("section", table(["", ""], [[k, v] for k, v in counts], id="counts")))
    if loaded.warnings:
        parts.append(tag("section", tag("h2", t(lang, "upload.notes")),
                         tag("ul", *[tag("li", w) for w in loaded.warnings])))  # fmt: skip
    if loaded.errors:
        errors = [
            [
                e.row,
                e.column or "",
                e.value,
                e.code,
                e.message,
                " | ".join(loaded.cells.get(e.row, ())),
            ]
            for e in loaded.errors
        ]
        parts.append(tag("section", tag("h2", t(lang, "upload.invalid_rows")), table(
            [t(lang, "col.row"), t(lang, "col.column"), t(lang, "col.value"),
             t(lang, "col.code"), t(lang, "col.message"), t(lang, "col.cells")], errors,
            id="invalid-rows"),
            tag("p", tag("a", t(lang, "upload.download_invalid"),
                         href=f"/uploads/{upload.id}/invalid_rows.csv", id="invalid-download")),
        ))  # fmt: skip
    rows = sorted(loaded.cells)[:PREVIEW_ROWS]
    if rows:
        preview = [[r, *loaded.cells[r]] for r in rows]
        parts.append(tag("section", tag("h2", t(lang, "upload.preview")),
                         table([t(lang, "col.row"), *loaded.input_header], preview,
                               id="preview", class_="wide")))  # fmt: skip
    parts.append(_mapping_form(c, upload))
    if loaded.requests:
        parts.append(
            form(
                f"/uploads/{upload.id}/plan",
                c.csrf,
                tag("button", t(lang, "upload.plan"), id="plan", class_="primary"),
            )
        )
    return layout(c, t(lang, "upload.result"), join(parts))


def progress_block(c: Chrome, run_id: str, snap: Snapshot, stopping: bool) -> Markup:
    lang = c.lang
    stop = (
        tag("p", t(lang, "run.stopping"), id="stopping")
        if stopping
        else form(f"/runs/{run_id}/stop", c.csrf, tag("button", t(lang, "run.stop"), id="stop"))
    )
    return tag(
        "section",
        tag("p", tag("strong", phase_name(lang, snap.phase), id="p-phase"), " · ",
            tag("span", t(lang, "run.progress", done=snap.rows_done, total=snap.rows_total),
                id="p-rows"), " · ",
            tag("span", format_yen(snap.refunded_yen), id="p-yen"), " ",
            t(lang, "run.refunded"), " · ",
            tag("span", f"{snap.rows_per_s:.1f}", id="p-rate"), " ", t(lang, "run.rate"), " · ",
            t(lang, "run.eta"), " ", tag("span", eta_text(snap.eta_s), id="p-eta")),
        tag("progress", max=str(max(snap.rows_total, 1)), value=str(snap.rows_done), id="p-bar"),
        tag("p", t(lang, "run.requests", requests=snap.requests, retried=snap.retried,
                   limited=snap.rate_limited), id="p-requests"),
        tag("p", t(lang, "run.running_note"), class_="help"),
        stop,
        id="progress", data_url=f"/runs/{run_id}/progress.json",
    )  # fmt: skip


def phase_name(lang: str, phase: str) -> str:
    key = f"phase.{phase}"
    return t(lang, key) if key in TEXT else phase


def eta_text(eta_s: float | None) -> str:
    return "—" if eta_s is None else f"{int(eta_s // 60)}m{int(eta_s % 60):02d}s"


def summary_block(
    lang: str, record: RunRecord | None, result: RunResult | None, totals: PlanTotals | None
) -> Markup:
    rows: list[list[object]] = []
    amounts: list[tuple[str, int | None]]
    finished: str | None
    if result is not None:
        s = result.summary
        counts = {status.value: n for status, n in s.counts if n}
        amounts = [("run.requested", s.requested_total), ("run.already", s.already_refunded_total),
                   ("run.refunded_now", s.refunded_total)]  # fmt: skip
        exit_code: object = s.exit_code
        finished = s.finished_at
    elif record is not None:
        counts = {k: v for k, v in record.counts.items() if v}
        amounts = [("run.requested", record.requested), ("run.refunded_now", record.refunded)]
        exit_code, finished = record.exit_code, record.finished_at
    else:
        return Markup("")
    rows.append([t(lang, "run.finished_at"), local_time(finished)])
    rows.append([t(lang, "run.exit"), exit_code])
    rows.append([t(lang, "run.rows"), (record.rows if record else result.summary.rows)])  # type: ignore[union-attr]
    rows += [[status, n] for status, n in counts.items()]
    rows += [[t(lang, key), "" if yen is None else format_yen(yen)] for key, yen in amounts]
    if totals is not None and (result is None or result.summary.mode == "plan"):
        rows.append([t(lang, "run.would_refund"), format_yen(totals.total_to_send)])
    notes = []
    if result is not None and result.guard is not None:
        notes.append(tag("p", t(lang, "run.guard", message=result.guard.message), class_="note"))
    elif result is not None and result.summary.stop_reason:
        notes.append(
            tag("p", t(lang, "run.stopped", message=result.summary.stop_reason), class_="note")
        )
    for warning in result.summary.warnings if result else ():
        notes.append(tag("p", warning, class_="note"))
    return tag("section", table(["", ""], rows, id="summary"), *notes)


def approve_block(
    c: Chrome, run_id: str, upload: Upload, totals: PlanTotals | None, own_upload: bool,
    maker_checker: bool,
) -> Markup:  # fmt: skip
    lang = c.lang
    parts: list[object] = [tag("h2", t(lang, "approve.title"))]
    if totals is None:
        parts += [tag("p", t(lang, "approve.replan")), _plan_again(c, upload)]
    elif totals.rows_to_send == 0:
        parts.append(tag("p", t(lang, "approve.nothing"), id="nothing-to-send"))
    elif own_upload:
        parts.append(tag("p", t(lang, "approve.own"), class_="error", id="own-upload"))
    else:
        what = t(lang, "approve.what", rows=totals.rows_to_send,
                 total=format_yen(totals.total_to_send))  # fmt: skip
        if maker_checker and upload.uploader:
            parts.append(tag("p", t(lang, "approve.maker_checker", user=upload.uploader)))
        parts.append(form(f"/runs/{run_id}/approve", c.csrf, tag("p", what, id="approve-what"),
                          tag("button", t(lang, "approve.submit"), id="approve",
                              class_="primary")))  # fmt: skip
    return tag("section", *parts, id="approval")


def _plan_again(c: Chrome, upload: Upload) -> Markup:
    return form(f"/uploads/{upload.id}/plan", c.csrf,
                tag("button", t(c.lang, "upload.plan"), id="plan"))  # fmt: skip


def report_block(
    c: Chrome, run_id: str, header: Sequence[str], rows: Sequence[Sequence[str]] | None,
    status: str, query: str, files: Sequence[str],
) -> Markup:  # fmt: skip
    lang = c.lang
    if rows is None:
        return tag("section", tag("h2", t(lang, "report.title")), tag("p", t(lang, "report.none")))
    at = header.index("status") if "status" in header else None
    shown = [
        r for r in rows
        if (not status or (at is not None and at < len(r) and r[at] == status))
        and (not query or any(query.casefold() in cell.casefold() for cell in r))
    ]  # fmt: skip
    options = [tag("option", t(lang, "report.all"), value="")] + [
        tag("option", s.value, value=s.value, selected=s.value == status) for s in Status
    ]
    controls = tag(
        "form",
        tag("label", t(lang, "report.filter"), tag("select", *options, name="status", id="status")),
        tag("label", t(lang, "report.search"), tag("input", name="q", value=query, id="q")),
        tag("button", t(lang, "report.apply"), id="filter"),
        method="get", action=f"/runs/{run_id}", class_="inline",
    )  # fmt: skip
    cells = [[_cell(header[i] if i < len(header) else "", v) for i, v in enumerate(r)]
             for r in shown[:TABLE_ROWS_SHOWN]]  # fmt: skip
    downloads = [tag("a", name, href=f"/runs/{run_id}/files/{name}", class_="download")
                 for name in files]  # fmt: skip
    return tag("section", tag("h2", t(lang, "report.title")),
               tag("p", t(lang, "run.downloads"), ": ", *downloads, id="downloads"),
               controls,
               tag("p", t(lang, "report.shown", shown=len(shown), total=len(rows))),
               table(header, cells, id="report", class_="wide"))  # fmt: skip


def _cell(column: str, value: str) -> str:
    if column in YEN_COLUMNS and value.isdigit():
        return format_yen(int(value))
    return value


def run_page(c: Chrome, run_id: str, title: str, upload_name: str, started: str,
             sections: Sequence[Markup]) -> Markup:  # fmt: skip
    lang = c.lang
    head = tag("p", t(lang, "run.id"), " ", tag("code", run_id), " · ", upload_name, " · ",
               t(lang, "run.started"), " ", local_time(started))  # fmt: skip
    return layout(c, title, join([tag("h1", title, id="run-title"), head, *sections]))


def runs_page(
    c: Chrome, records: Sequence[RunRecord], names: Mapping[str, str], active: str | None,
    resumable: Mapping[str, str],
) -> Markup:  # fmt: skip
    lang = c.lang
    if not records:
        return layout(
            c,
            t(lang, "runs.title"),
            join([tag("h1", t(lang, "runs.title")), tag("p", t(lang, "runs.none"))]),
        )
    rows = []
    for r in records:
        if r.run_id == active:
            state: object = t(lang, "runs.running")
        elif r.finished_at is None:
            state = t(lang, "runs.unfinished")
        else:
            state = f"exit {r.exit_code}"
        counts = ", ".join(f"{k} {v}" for k, v in r.counts.items() if v)
        actions: list[object] = [tag("a", t(lang, "runs.open"), href=f"/runs/{r.run_id}")]
        if r.run_id in resumable:
            actions.append(
                form(
                    f"/uploads/{resumable[r.run_id]}/plan",
                    c.csrf,
                    tag("button", t(lang, "runs.resume")),
                    class_="inline",
                )
            )
        rows.append([
            tag("code", r.run_id), r.mode, local_time(r.started_at), state, r.rows, counts,
            "" if r.requested is None else format_yen(r.requested),
            "" if r.refunded is None else format_yen(r.refunded),
            names.get(r.run_id, r.input_path), join(actions),
        ])  # fmt: skip
    header = [t(lang, "run.id"), t(lang, "run.mode"), t(lang, "run.started"),
              t(lang, "runs.state"), t(lang, "run.rows"), "", t(lang, "run.requested"),
              t(lang, "run.refunded_now"), t(lang, "runs.input"), ""]  # fmt: skip
    return layout(
        c,
        t(lang, "runs.title"),
        join([tag("h1", t(lang, "runs.title")), table(header, rows, id="runs")]),
    )
