"""Uploaded spreadsheets, kept under the journal's folder with generated names.

A file is stored as ``<journal folder>/console/uploads/<id><suffix>`` (``id`` random hex, the
suffix from an allow-list, so the format can be detected); the name a person uploaded is
only ever shown, never used as a path. A JSON sidecar beside it keeps who uploaded it, the
column mapping chosen for it, and the approvals given, so the runs page can offer a resume.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch_refunds.errors import ConfigError

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".ods")
_ID = re.compile(r"^[0-9a-f]{24}$")


class UploadTooLarge(Exception):
    """The upload passed ``MAX_UPLOAD_BYTES``; what was written is deleted."""


@dataclass
class Upload:
    id: str
    path: Path
    original_name: str
    uploader: str | None
    uploaded_at: str
    columns: dict[str, str] = field(default_factory=dict)
    full_refunds: bool = False
    allow_duplicate_rows: bool = False
    new_refunds: bool = False
    """Rows held as ``hold.earlier-row-missing`` are new refunds (``RunOptions.new_refunds``)."""
    sheet: str | None = None
    approvals: list[dict[str, str]] = field(default_factory=list)

    def load_options(self) -> dict[str, Any]:
        """The keyword arguments ``intake.load_requests`` and ``RunOptions`` take."""
        return {
            "sheet": self.sheet,
            "allow_duplicate_rows": self.allow_duplicate_rows,
            "columns": dict(self.columns),
            "full_refunds": self.full_refunds,
        }


class UploadStore:
    def __init__(self, root: Path, *, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def new(self, original_name: str, uploader: str | None) -> tuple[Upload, Path]:
        """A fresh upload record and the path its bytes go to (written by the caller)."""
        suffix = Path(original_name).suffix.lower()
        if suffix not in SUFFIXES:
            raise ConfigError(
                f"{original_name!r} is not a spreadsheet this tool reads ({', '.join(SUFFIXES)})"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        upload_id = secrets.token_hex(12)
        path = self.root / f"{upload_id}{suffix}"
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return Upload(upload_id, path, original_name[-200:], uploader, now), path

    def save(self, upload: Upload) -> None:
        record = asdict(upload)
        record["path"] = upload.path.name
        sidecar = self.root / f"{upload.id}.json"
        tmp = sidecar.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(sidecar)

    def get(self, upload_id: str) -> Upload | None:
        if not _ID.match(upload_id):
            return None
        sidecar = self.root / f"{upload_id}.json"
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        record["path"] = self.root / Path(record["path"]).name
        return Upload(**record)

    def for_input(self, input_path: str) -> Upload | None:
        """The upload a run's recorded input path names, if it is one of ours."""
        path = Path(input_path)
        if path.parent.resolve() != self.root.resolve():
            return None
        return self.get(path.stem)
