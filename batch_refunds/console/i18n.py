"""The console's words in English and Japanese, the language chosen, and local times."""

from __future__ import annotations

from datetime import datetime

LANGUAGES = ("en", "ja")

TEXT: dict[str, tuple[str, str]] = {
    "title": ("Batch refunds", "一括返金"),
    "nav.upload": ("Upload", "アップロード"),
    "nav.runs": ("Runs", "実行履歴"),
    "nav.logout": ("Sign out", "ログアウト"),
    "signed_in": ("Signed in as {user}", "{user} でログイン中"),
    "sandbox": ("Sandbox: nothing leaves this machine", "サンドボックス：外部には送信されません"),
    "live": ("LIVE key: real money", "本番キー：実際の返金です"),
    "login.title": ("Sign in", "ログイン"),
    "login.name": ("Name", "ユーザー名"),
    "login.password": ("Password", "パスワード"),
    "login.submit": ("Sign in", "ログイン"),
    "login.failed": ("Wrong name or password.", "ユーザー名またはパスワードが違います。"),
    "upload.title": ("Upload a refund spreadsheet", "返金ファイルをアップロード"),
    "upload.help": (
        "CSV or Excel, up to {limit} MB. Drop it here or choose it.",
        "CSV または Excel（{limit} MB まで）。ここにドロップするか、選択してください。",
    ),
    "upload.submit": ("Upload and check", "アップロードして確認"),
    "upload.detected": ("What was detected", "読み取り結果"),
    "upload.file": ("File", "ファイル"),
    "upload.format": ("Format", "形式"),
    "upload.encoding": ("Encoding", "文字コード"),
    "upload.header": ("Header row", "見出し行"),
    "upload.columns": ("Columns", "列"),
    "upload.ignored": ("Ignored columns", "使わない列"),
    "upload.result": ("Validation", "検証結果"),
    "upload.rows": ("Rows below the header", "見出しより下の行"),
    "upload.valid": ("valid", "有効"),
    "upload.invalid": ("invalid", "無効"),
    "upload.blank": ("blank (skipped)", "空行（スキップ）"),
    "upload.totals": ("total lines (skipped)", "合計行（スキップ）"),
    "upload.full": ("full refunds (blank amount)", "全額返金（金額空欄）"),
    "upload.requested": ("amount written on valid rows", "有効行の記載金額"),
    "upload.invalid_rows": ("Invalid rows", "無効な行"),
    "upload.download_invalid": ("Download invalid rows (CSV)", "無効な行をダウンロード（CSV）"),
    "upload.unusable": ("This file cannot be used", "このファイルは使えません"),
    "upload.mapping": ("Column mapping", "列の対応"),
    "upload.mapping_help": (
        'One NAME=HEADER per line, as with --column: amount="返金額（税込）".',
        '1行に1つ NAME=HEADER（--column と同じ）：amount="返金額（税込）"',
    ),
    "upload.full_refunds": (
        "No amount column on purpose: every row refunds what remains",
        "金額列なし：各行の残額をすべて返金する",
    ),
    "upload.duplicates": ("Allow identical rows", "同一行を許可する"),
    "upload.new_refunds": (
        "Rows held because an earlier run refunded the payment for a row without a reference "
        "that is not in this file are new refunds: send them",
        "参照番号のない行の返金が以前にあり、その行がこのファイルにないために保留された行を、"
        "新しい返金として送る",
    ),
    "upload.apply": ("Apply and check again", "適用して再確認"),
    "upload.preview": ("First rows", "先頭の行"),
    "upload.plan": (
        "Plan (reads Smartpay, sends nothing)",
        "計画を作成（照会のみ・返金はしません）",
    ),
    "upload.notes": ("Notes", "注意"),
    "col.row": ("Row", "行"),
    "col.column": ("Column", "列"),
    "col.value": ("Value", "値"),
    "col.code": ("Code", "コード"),
    "col.message": ("Message", "内容"),
    "col.cells": ("The row as written", "行の内容"),
    "run.title_plan": ("Plan", "返金計画"),
    "run.title_run": ("Run", "返金の実行"),
    "phase.loading": ("starting", "開始中"),
    "phase.planning": ("planning", "計画中"),
    "phase.refunding": ("refunding", "返金中"),
    "phase.finished": ("finished", "完了"),
    "run.progress": ("{done} / {total} rows", "{done} / {total} 行"),
    "run.refunded": ("refunded", "返金済み"),
    "run.rate": ("rows/s", "行/秒"),
    "run.eta": ("ETA", "残り時間"),
    "run.requests": (
        "{requests} requests, {retried} retried, {limited}×429",
        "リクエスト {requests} 件、再試行 {retried} 件、429 が {limited} 件",
    ),
    "run.stop": ("Stop safely", "安全に停止"),
    "run.stopping": ("Stopping…", "停止中…"),
    "run.running_note": (
        "Closing this page does not stop the run.",
        "このページを閉じても実行は止まりません。",
    ),
    "run.finished": ("Finished", "完了"),
    "run.unfinished": (
        "This run did not finish (the process ended). Plan the file again to resume it: "
        "nothing already refunded is sent again.",
        "この実行は完了していません。もう一度計画を作成すると再開できます（返金済みの行は再送されません）。",
    ),
    "run.id": ("Run", "実行"),
    "run.mode": ("Mode", "モード"),
    "run.started": ("Started", "開始"),
    "run.finished_at": ("Finished", "終了"),
    "run.exit": ("Exit code", "終了コード"),
    "run.rows": ("Rows", "行数"),
    "run.requested": ("requested", "返金依頼額"),
    "run.already": ("already refunded", "返金済み（以前）"),
    "run.refunded_now": ("refunded now", "今回返金"),
    "run.would_refund": ("would refund", "返金予定"),
    "run.guard": ("Nothing was sent: {message}", "送信していません：{message}"),
    "run.stopped": ("Stopped: {message}", "停止：{message}"),
    "run.downloads": ("Downloads", "ダウンロード"),
    "approve.title": ("Approve", "承認"),
    "approve.what": (
        "Send {rows} refund(s), {total} in total?",
        "{rows} 件、合計 {total} を返金しますか？",
    ),
    "approve.submit": ("Approve and send", "承認して返金"),
    "approve.maker_checker": (
        "Uploaded by {user}: another person must approve.",
        "{user} がアップロードしました。別の人が承認してください。",
    ),
    "approve.own": (
        "You uploaded this file: another person must approve it.",
        "ご自身がアップロードしたファイルは承認できません。別の人が承認してください。",
    ),
    "approve.nothing": ("Nothing to send.", "返金する行はありません。"),
    "approve.replan": (
        "This plan was made before the console restarted: plan again to approve.",
        "この計画はコンソール再起動前のものです。承認するには計画を作り直してください。",
    ),
    "approve.changed": (
        "Smartpay's records changed since the plan was approved: nothing was sent. Plan again.",
        "承認後に Smartpay の状態が変わったため、送信していません。計画を作り直してください。",
    ),
    "report.title": ("Reconciliation", "照合結果"),
    "report.filter": ("Status", "ステータス"),
    "report.all": ("all", "すべて"),
    "report.search": ("Search", "検索"),
    "report.apply": ("Show", "表示"),
    "report.none": ("No report was written for this run.", "この実行のレポートはありません。"),
    "report.shown": ("{shown} of {total} rows", "{total} 行中 {shown} 行"),
    "runs.title": ("Runs", "実行履歴"),
    "runs.none": (
        "Nothing has run on this journal yet.",
        "このジャーナルにはまだ実行がありません。",
    ),
    "runs.input": ("File", "ファイル"),
    "runs.state": ("State", "状態"),
    "runs.running": ("running", "実行中"),
    "runs.unfinished": ("did not finish", "未完了"),
    "runs.resume": ("Resume (plan again)", "再開（再計画）"),
    "runs.open": ("Open", "開く"),
    "error.title": ("Something is wrong", "エラー"),
    "error.csrf": (
        "This form has expired or did not come from this console. Reload the page and try again.",
        "フォームの有効期限が切れたか、このコンソールからの送信ではありません。再読み込みしてください。",
    ),
    "error.too_large": (
        "The file is larger than {limit} MB.",
        "ファイルが {limit} MB を超えています。",
    ),
    "error.no_file": ("Choose a file to upload.", "アップロードするファイルを選んでください。"),
    "error.not_found": ("There is no such page.", "ページが見つかりません。"),
    "error.busy": (
        "A run is already in progress on this journal; wait for it to finish.",
        "このジャーナルでは別の実行が進行中です。終了までお待ちください。",
    ),
    "error.login": ("Sign in first.", "先にログインしてください。"),
    "back": ("Back", "戻る"),
}


def t(lang: str, key: str, **values: object) -> str:
    en, ja = TEXT[key]
    text = ja if lang == "ja" else en
    return text.format(**values) if values else text


def negotiate(accept_language: str | None) -> str:
    """The first of our languages the browser asks for (by q value), else English."""
    best, best_q = "en", -1.0
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        q -= position * 1e-6  # earlier wins a tie
        if lang in LANGUAGES and q > best_q:
            best, best_q = lang, q
    return best


def local_time(iso: str | None) -> str:
    """An ISO-8601 UTC time from the journal, in this machine's time zone."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
