"""``batch-refunds sandbox``: a real subprocess that prints its URL, serves, and stops cleanly."""

from __future__ import annotations

import csv
import json
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from batch_refunds.cli.main import main
from batch_refunds.sandbox import SandboxProcess

pytestmark = pytest.mark.slow


def _get(url: str, key: str | None) -> tuple[int, dict[str, object]]:
    headers = {} if key is None else {"Authorization": f"Basic {key}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_subprocess_prints_its_url_serves_and_exits_0_on_sigterm() -> None:
    """The ready line carries a working base URL; SIGTERM ends the process with status 0."""
    with SandboxProcess(entry=SandboxProcess.FULL_CLI) as sandbox:
        assert sandbox.base_url.startswith("http://127.0.0.1:")
        assert sandbox.base_url.endswith("/v1")
        status, body = _get(f"{sandbox.base_url}/refunds", "sk_test_Anything1")
        assert status == 200
        assert body["data"] == []
    assert sandbox.returncode == 0


def test_sigint_also_stops_it_cleanly() -> None:
    """Ctrl-C (SIGINT) is a clean stop, not a traceback."""
    with SandboxProcess() as sandbox:
        assert sandbox._proc is not None
        sandbox._proc.send_signal(signal.SIGINT)
        assert sandbox._proc.wait(timeout=10) == 0


def test_secret_file_restricts_the_accepted_key(tmp_path: Path) -> None:
    """With --secret-file only that key gets in; the key is not needed on the command line."""
    secret = tmp_path / "secret"
    secret.write_text("sk_test_FromAFile9\n", encoding="utf-8")
    with SandboxProcess(["--secret-file", str(secret)]) as sandbox:
        assert _get(f"{sandbox.base_url}/refunds", "sk_test_FromAFile9")[0] == 200
        assert _get(f"{sandbox.base_url}/refunds", "sk_test_SomethingElse")[0] == 401


def test_secret_from_the_environment(tmp_path: Path) -> None:
    """SMARTPAY_SANDBOX_SECRET works like --secret-file."""
    with SandboxProcess(env={"SMARTPAY_SANDBOX_SECRET": "sk_test_FromEnv7"}) as sandbox:
        assert _get(f"{sandbox.base_url}/refunds", "sk_test_FromEnv7")[0] == 200
        assert _get(f"{sandbox.base_url}/refunds", "sk_test_Other")[0] == 401


def test_generated_orders_are_served_and_match_the_csv(tmp_path: Path) -> None:
    """--generate N --csv-out writes a returns CSV whose orders the running sandbox serves."""
    out = tmp_path / "returns.csv"
    args = ["--generate", "12", "--csv-out", str(out), "--random-seed", "5"]
    with SandboxProcess(args) as sandbox:
        with out.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 12
        for row in rows:
            status, order = _get(f"{sandbox.base_url}/orders/{row['order_id']}", "sk_test_K1")
            assert status == 200
            assert order["id"] == row["order_id"]
        stats = sandbox.admin("stats")
        assert stats["orders"] == 12
        advanced = sandbox.admin("clock/advance", {"seconds": 60})
        assert advanced["nowMs"] >= stats["nowMs"] + 60_000


def test_seed_file_is_loaded(tmp_path: Path) -> None:
    """--seed FILE serves the seed's orders under their fixed ids."""
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps({"orders": [{"id": "order_test_Cli1", "payments": [{"amount": 1980}]}]}),
        encoding="utf-8",
    )
    with SandboxProcess(["--seed", str(seed)]) as sandbox:
        status, order = _get(f"{sandbox.base_url}/orders/order_test_Cli1", "sk_test_K1")
        assert status == 200
        assert order["amount"] == 1980


def test_no_serve_writes_files_and_returns(tmp_path: Path) -> None:
    """--no-serve with --generate writes the CSV and seed JSON, then exits 0 at once."""
    csv_out, seed_out = tmp_path / "r.csv", tmp_path / "s.json"
    code = main(
        [
            *("sandbox", "--generate", "5", "--csv-out", str(csv_out)),
            *("--seed-out", str(seed_out), "--random-seed", "1", "--no-serve"),
        ]
    )
    assert code == 0
    assert len(json.loads(seed_out.read_text(encoding="utf-8"))["orders"]) == 5
    assert len(csv_out.read_text(encoding="utf-8").splitlines()) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--generate", "5"], "--csv-out"),
        (["--fail-rate", "2"], "fail_rate"),
        (["--seed", "{missing}"], "No such file"),
        (["--seed", "{bad}"], "bad seed"),
        (["--secret-file", "{live}"], "live key"),
    ],
)
def test_bad_options_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Misuse is reported in one line on stderr with exit status 2, never a traceback."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"orders": [{"payments": [{"amount": 0}]}]}', encoding="utf-8")
    live = tmp_path / "live"
    live.write_text("sk_live_Secret99", encoding="utf-8")
    paths = {"missing": tmp_path / "nope.json", "bad": bad, "live": live}
    code = main(["sandbox", *(a.format(**paths) for a in args)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Secret99" not in err


def test_a_sandbox_that_cannot_start_fails_fast() -> None:
    """SandboxProcess raises (not hangs) when the command exits without a ready line."""
    with pytest.raises(RuntimeError, match="did not start"):
        SandboxProcess(["--fail-rate", "9"], start_timeout_s=30).__enter__()
