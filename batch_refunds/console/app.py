"""The console's ``aiohttp.web`` application: routes, sessions, CSRF, security headers.

Handlers call the library (``intake.load_requests``, ``runner.run_batch`` through ``jobs``,
``journal.Journal``, the report files) and hand what it returns to ``pages``. Security:
a session cookie (``HttpOnly``, ``SameSite=Strict``) keyed to a server-side session holding
the CSRF token that every form carries; with an accounts file every page but the sign-in
needs a signed-in person; a CSP allowing only this server's own script and style; the
secret key stays in ``ClientConfig`` and is never put in a page.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, web

from batch_refunds.console import pages
from batch_refunds.console.auth import Accounts
from batch_refunds.console.i18n import LANGUAGES, negotiate, t
from batch_refunds.console.jobs import Guardrails, Job, Jobs
from batch_refunds.console.uploads import MAX_UPLOAD_BYTES, Upload, UploadStore, UploadTooLarge
from batch_refunds.errors import BatchRefundsError, ConfigError, InputFileError, JournalBusy
from batch_refunds.intake import load_requests
from batch_refunds.intake.load import LoadResult
from batch_refunds.journal import Journal, RunRecord
from batch_refunds.models import Mode
from batch_refunds.money import format_yen
from batch_refunds.report import CSV_NAME, SUMMARY_NAME, XLSX_NAME
from batch_refunds.report.invalid_rows import INVALID_ROWS_FILE, invalid_rows_text
from batch_refunds.smartpay import ClientConfig

STATIC = Path(__file__).parent / "static"
COOKIE = "br_session"
REPORT_FILES = (CSV_NAME, XLSX_NAME, SUMMARY_NAME)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True)
class ConsoleSettings:
    client_config: ClientConfig
    journal_path: Path
    guardrails: Guardrails
    accounts: Accounts | None = None
    require_approval: bool = False
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    allowed_hosts: frozenset[str] | None = None
    """``Host`` headers accepted (DNS rebinding); None accepts any."""
    sandbox: bool = False

    def __post_init__(self) -> None:
        if self.require_approval and self.accounts is None:
            raise ConfigError("approval by a second person needs accounts (an accounts file)")


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    user: str | None = None
    lang: str | None = None


@dataclass
class Console:
    settings: ConsoleSettings
    journal: Journal
    uploads: UploadStore
    jobs: Jobs
    sessions: dict[str, Session] = field(default_factory=dict)


CONSOLE = web.AppKey("console", Console)
SESSION = web.RequestKey("br.session", Session)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(settings: ConsoleSettings) -> web.Application:
    """The console for one journal. The journal is opened on startup and closed (after any
    running job has been stopped gracefully) on cleanup."""
    app = web.Application(
        middlewares=[_security_headers, _sessions],
        client_max_size=settings.max_upload_bytes + 1024 * 1024,
    )

    async def lifecycle(app: web.Application) -> object:
        journal = Journal(settings.journal_path)
        console_dir = settings.journal_path.parent / "console"
        app[CONSOLE] = Console(
            settings, journal, UploadStore(console_dir / "uploads",
                                           max_bytes=settings.max_upload_bytes),
            Jobs(journal, settings.client_config, settings.guardrails, console_dir / "reports"),
        )  # fmt: skip
        yield
        await app[CONSOLE].jobs.close()
        journal.close()

    app.cleanup_ctx.append(lifecycle)  # type: ignore[arg-type]
    app.add_routes([
        web.get("/", upload_form), web.post("/upload", upload),
        web.get("/uploads/{id}", checked), web.post("/uploads/{id}/options", set_options),
        web.get("/uploads/{id}/invalid_rows.csv", invalid_rows),
        web.post("/uploads/{id}/plan", plan),
        web.get("/runs", runs), web.get("/runs/{run}", run_view),
        web.get("/runs/{run}/progress.json", progress),
        web.post("/runs/{run}/approve", approve), web.post("/runs/{run}/stop", stop),
        web.get("/runs/{run}/files/{name}", report_file),
        web.get("/login", login_form), web.post("/login", login), web.post("/logout", logout),
        web.static("/static", STATIC, follow_symlinks=False),
    ])  # fmt: skip
    return app


# --- middlewares ---------------------------------------------------------------------------


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[CONSOLE].settings
    allowed = settings.allowed_hosts
    if allowed is not None and request.host not in allowed:
        return web.Response(status=421, text="This console answers only on its own address.")
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # an error page raised deep in a handler
        response = web.Response(status=exc.status, body=exc.body, headers=exc.headers)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@web.middleware
async def _sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    console = request.app[CONSOLE]
    token = request.cookies.get(COOKIE, "")
    session = console.sessions.get(token)
    fresh = session is None
    if session is None:
        token, session = secrets.token_urlsafe(32), Session()
        _remember(console.sessions, token, session)
    wanted = request.query.get("lang")
    if wanted in LANGUAGES:
        session.lang = wanted
    request[SESSION] = session
    public = request.path in ("/login",) or request.path.startswith("/static/")
    if console.settings.accounts is not None and session.user is None and not public:
        if request.method == "GET" and not request.path.endswith(".json"):
            response: web.StreamResponse = _redirect("/login")
        else:
            response = _message(request, 401, t(_lang(request), "error.login"))
    else:
        response = await handler(request)
    if fresh:
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
    return response


MAX_SESSIONS = 10_000


def _remember(sessions: dict[str, Session], token: str, session: Session) -> None:
    """Keep a session; past ``MAX_SESSIONS`` the oldest go (each cookieless request makes
    one, and memory is not to grow without bound)."""
    sessions[token] = session
    while len(sessions) > MAX_SESSIONS:
        del sessions[next(iter(sessions))]


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _lang(request: web.Request) -> str:
    session: Session = request[SESSION]
    return session.lang or negotiate(request.headers.get("Accept-Language"))


def _chrome(request: web.Request) -> pages.Chrome:
    console = request.app[CONSOLE]
    session: Session = request[SESSION]
    return pages.Chrome(
        _lang(request), session.csrf, session.user, console.settings.sandbox,
        console.settings.client_config.live, request.path,
    )  # fmt: skip


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def _message(
    request: web.Request, status: int, message: str, back: str | None = None
) -> web.Response:
    c = _chrome(request)
    return _html(pages.message_page(c, t(c.lang, "error.title"), message, back), status)


_ABORTS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
}  # fmt: skip


def _abort(
    request: web.Request, status: int, message: str, back: str | None = None
) -> web.HTTPException:
    """An error page to raise from deep in a handler."""
    c = _chrome(request)
    body = pages.message_page(c, t(c.lang, "error.title"), message, back)
    return _ABORTS[status](text=body, content_type="text/html")


async def _form(request: web.Request) -> dict[str, str]:
    """The posted form, once its CSRF token is the session's; else a 403 page is raised."""
    data = await request.post()
    _check_csrf(request, str(data.get("_csrf", "")))
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _check_csrf(request: web.Request, token: str) -> None:
    session: Session = request[SESSION]
    if not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise _abort(request, 403, t(_lang(request), "error.csrf"))


def _upload_or_404(request: web.Request) -> Upload:
    upload = request.app[CONSOLE].uploads.get(request.match_info["id"])
    if upload is None:
        raise _abort(request, 404, t(_lang(request), "error.not_found"), "/")
    return upload


# --- sign-in -------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.Response:
    return _html(pages.login_page(_chrome(request), failed=False))


async def login(request: web.Request) -> web.StreamResponse:
    data = await _form(request)
    accounts = request.app[CONSOLE].settings.accounts
    name, password = data.get("name", ""), data.get("password", "")
    if accounts is None or not await asyncio.to_thread(accounts.check, name, password):
        return _html(pages.login_page(_chrome(request), failed=True), 401)
    console = request.app[CONSOLE]
    old: Session = request[SESSION]
    console.sessions.pop(request.cookies.get(COOKIE, ""), None)
    token, session = secrets.token_urlsafe(32), Session(user=name, lang=old.lang)
    _remember(console.sessions, token, session)  # a new session id at sign-in: no fixation
    response = _redirect("/")
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    await _form(request)
    request.app[CONSOLE].sessions.pop(request.cookies.get(COOKIE, ""), None)
    response = _redirect("/login")
    response.del_cookie(COOKIE, path="/")
    return response


# --- upload --------------------------------------------------------------------------------


async def upload_form(request: web.Request) -> web.Response:
    limit_mb = request.app[CONSOLE].settings.max_upload_bytes // (1024 * 1024)
    return _html(pages.upload_page(_chrome(request), limit_mb))


async def upload(request: web.Request) -> web.StreamResponse:
    """Stream the file to a generated name under the journal's folder, counting bytes."""
    console = request.app[CONSOLE]
    lang = _lang(request)
    limit_mb = console.settings.max_upload_bytes // (1024 * 1024)
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        return _message(request, 400, t(lang, "error.no_file"), "/")
    csrf_seen = False
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "_csrf":
            _check_csrf(request, (await part.read(decode=True)).decode("utf-8", "replace"))
            csrf_seen = True
        elif part.name == "file" and part.filename:
            if not csrf_seen:
                _check_csrf(request, "")
            session: Session = request[SESSION]
            try:
                record, path = console.uploads.new(part.filename, session.user)
            except ConfigError as exc:
                return _message(request, 400, str(exc), "/")
            try:
                await _save(part, path, console.uploads.max_bytes)
            except UploadTooLarge:
                return _message(request, 413, t(lang, "error.too_large", limit=limit_mb), "/")
            console.uploads.save(record)
            return _redirect(f"/uploads/{record.id}")
    if not csrf_seen:
        _check_csrf(request, "")
    return _message(request, 400, t(lang, "error.no_file"), "/")


async def _save(part: BodyPartReader, path: Path, max_bytes: int) -> None:
    written = 0
    try:
        with path.open("wb") as handle:
            while chunk := await part.read_chunk(1 << 16):
                written += len(chunk)
                if written > max_bytes:
                    raise UploadTooLarge
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)  # noqa: ASYNC240 -- one local file, at once
        raise


async def _check(upload: Upload) -> tuple[LoadResult | None, str | None]:
    """``load_requests`` on the upload with its mapping, off the event loop."""
    try:
        loaded = await asyncio.to_thread(
            load_requests, upload.path, **upload.load_options(), keep_cells=True
        )
    except (InputFileError, ConfigError) as exc:
        return None, str(exc)
    return loaded, None


async def checked(request: web.Request) -> web.Response:
    upload = _upload_or_404(request)
    loaded, refusal = await _check(upload)
    return _html(pages.checked_page(_chrome(request), upload, loaded, refusal))


async def set_options(request: web.Request) -> web.StreamResponse:
    upload = _upload_or_404(request)
    data = await _form(request)
    columns: dict[str, str] = {}
    for line in data.get("columns", "").splitlines():
        if not line.strip():
            continue
        name, equals, header = line.partition("=")
        header = header.strip()
        if len(header) >= 2 and header[0] == header[-1] and header[0] in "\"'":
            header = header[1:-1].strip()
        if not equals or not name.strip() or not header:
            message = f'expected NAME=HEADER, such as amount="返金額（税込）"; got {line!r}'
            return _message(request, 400, message, f"/uploads/{upload.id}")
        columns[name.strip()] = header
    upload.columns = columns
    upload.full_refunds = data.get("full_refunds") == "1"
    upload.allow_duplicate_rows = data.get("allow_duplicate_rows") == "1"
    upload.new_refunds = data.get("new_refunds") == "1"
    request.app[CONSOLE].uploads.save(upload)
    return _redirect(f"/uploads/{upload.id}")


async def invalid_rows(request: web.Request) -> web.StreamResponse:
    upload = _upload_or_404(request)
    loaded, refusal = await _check(upload)
    if loaded is None:
        return _message(request, 400, refusal or "", f"/uploads/{upload.id}")
    body = ("\ufeff" + invalid_rows_text(loaded.errors)).encode("utf-8")
    return web.Response(body=body, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{INVALID_ROWS_FILE}"'})  # fmt: skip


# --- plan, approve, run --------------------------------------------------------------------


async def _start(
    request: web.Request, upload: Upload, mode: Mode, approved: object = None
) -> web.StreamResponse:
    console = request.app[CONSOLE]
    session: Session = request[SESSION]
    try:
        job = await console.jobs.start(upload, mode, started_by=session.user,
                                       approved=approved)  # type: ignore[arg-type]  # fmt: skip
    except JournalBusy:
        return _message(request, 409, t(_lang(request), "error.busy"), "/runs")
    except (BatchRefundsError, OSError) as exc:
        return _message(request, 400, str(exc), f"/uploads/{upload.id}")
    return _redirect(f"/runs/{job.run_id}")


async def plan(request: web.Request) -> web.StreamResponse:
    upload = _upload_or_404(request)
    await _form(request)
    return await _start(request, upload, Mode.PLAN)


async def approve(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    await _form(request)
    job = console.jobs.by_run.get(request.match_info["run"])
    lang = _lang(request)
    if job is None or job.mode is not Mode.PLAN or job.result is None or job.result.totals is None:
        return _message(request, 409, t(lang, "approve.replan"), "/runs")
    session: Session = request[SESSION]
    if console.settings.require_approval and session.user == job.upload.uploader:
        return _message(request, 403, t(lang, "approve.own"), f"/runs/{job.run_id}")
    job.upload.approvals.append({"plan": job.run_id or "", "by": session.user or "",
                                 "rows": str(job.result.totals.rows_to_send),
                                 "total": str(job.result.totals.total_to_send)})  # fmt: skip
    console.uploads.save(job.upload)
    return await _start(request, job.upload, Mode.RUN, approved=job.result.totals)


async def stop(request: web.Request) -> web.StreamResponse:
    await _form(request)
    job = request.app[CONSOLE].jobs.by_run.get(request.match_info["run"])
    if job is not None:
        job.stop.set()
    return _redirect(f"/runs/{request.match_info['run']}")


def _record(console: Console, run_id: str) -> RunRecord | None:
    return next((r for r in console.journal.recent_runs(100_000) if r.run_id == run_id), None)


async def progress(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    run_id = request.match_info["run"]
    job = console.jobs.by_run.get(run_id)
    if job is None:
        record = _record(console, run_id)
        if record is None:
            raise web.HTTPNotFound
        return web.json_response({"active": False, "finished": record.finished_at is not None})
    snap = job.progress.snapshot(time.monotonic())
    lang = _lang(request)
    return web.json_response({
        "active": job.active, "phase": pages.phase_name(lang, snap.phase), "done": snap.rows_done,
        "total": snap.rows_total, "rows": t(lang, "run.progress", done=snap.rows_done,
                                            total=snap.rows_total),
        "refunded": format_yen(snap.refunded_yen), "rate": f"{snap.rows_per_s:.1f}",
        "eta": pages.eta_text(snap.eta_s),
        "requests": t(lang, "run.requests", requests=snap.requests, retried=snap.retried,
                      limited=snap.rate_limited),
        "stopping": job.stop.is_set(),
    })  # fmt: skip


def _report_dir(job: Job | None, record: RunRecord | None) -> Path | None:
    if job is not None and job.result is not None:
        return job.result.report.directory
    if record is not None and record.report_dir:
        return Path(record.report_dir)
    return None


async def run_view(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    run_id = request.match_info["run"]
    record = _record(console, run_id)
    job = console.jobs.by_run.get(run_id)
    if record is None:
        return _message(request, 404, t(_lang(request), "error.not_found"), "/runs")
    c = _chrome(request)
    lang = c.lang
    upload = job.upload if job else console.uploads.for_input(record.input_path)
    sections: list[pages.Markup] = []
    if job is not None and job.active:
        snap = job.progress.snapshot(time.monotonic())
        sections.append(pages.progress_block(c, run_id, snap, job.stop.is_set()))
    else:
        result = job.result if job else None
        totals = result.totals if result else None
        if job is not None and job.failure is not None:
            sections.append(pages.tag("p", str(job.failure), class_="error"))
        if record.finished_at is None and job is None:
            sections.append(pages.tag("p", t(lang, "run.unfinished"), class_="note"))
        if job is not None and job.declined:
            sections.append(pages.tag("p", t(lang, "approve.changed"), class_="error"))
        sections.append(pages.summary_block(lang, record, result, totals))
        if record.mode == Mode.PLAN and upload is not None:
            session: Session = request[SESSION]
            own = console.settings.require_approval and session.user == upload.uploader
            sections.append(
                pages.approve_block(
                    c, run_id, upload, totals, own, console.settings.require_approval
                )
            )
        directory = _report_dir(job, record)
        header, rows = _read_report(directory)
        files = [n for n in REPORT_FILES if directory is not None and (directory / n).exists()]
        sections.append(pages.report_block(c, run_id, header, rows,
                                           request.query.get("status", ""),
                                           request.query.get("q", ""), files))  # fmt: skip
    title = t(lang, "run.title_plan" if record.mode == Mode.PLAN else "run.title_run")
    name = upload.original_name if upload else record.input_path
    return _html(pages.run_page(c, run_id, title, name, record.started_at, sections))


def _read_report(directory: Path | None) -> tuple[list[str], list[list[str]] | None]:
    if directory is None:
        return [], None
    try:
        with (directory / CSV_NAME).open(encoding="utf-8-sig", newline="") as handle:
            lines = list(csv.reader(handle))
    except OSError:
        return [], None
    return (lines[0], lines[1:]) if lines else ([], [])


async def report_file(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    run_id, name = request.match_info["run"], request.match_info["name"]
    if name not in REPORT_FILES:
        raise web.HTTPNotFound
    directory = _report_dir(console.jobs.by_run.get(run_id), _record(console, run_id))
    if directory is None or not (directory / name).is_file():
        raise web.HTTPNotFound
    return web.FileResponse(directory / name, headers={
        "Content-Disposition": f'attachment; filename="{run_id}-{name}"'})  # fmt: skip


async def runs(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    records = console.journal.recent_runs(100)
    names: dict[str, str] = {}
    resumable: dict[str, str] = {}
    current = console.jobs.current
    active = current.run_id if current is not None and current.active else None
    for r in records:
        upload = console.uploads.for_input(r.input_path)
        if upload is None:
            continue
        names[r.run_id] = upload.original_name
        interrupted = r.finished_at is None or r.exit_code == 130
        if r.mode == Mode.RUN and interrupted and r.run_id != active:
            resumable[r.run_id] = upload.id
    return _html(pages.runs_page(_chrome(request), records, names, active, resumable))
