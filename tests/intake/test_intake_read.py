"""Reading every format and encoding in the issue, and the file-level failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from batch_refunds.errors import ConfigError, InputFileError
from batch_refunds.intake import load_requests

from .conftest import FIXTURES, WriteFile
from .fixtures.make_fixtures import EXPECTED


def _loaded(result_path: Path, **kw: str) -> list[tuple[int, str | None, int | None]]:
    result = load_requests(result_path, **kw)  # type: ignore[arg-type]
    assert result.errors == ()
    return [(r.row, r.order_id, r.amount) for r in result.requests]


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter"),
    [
        ("utf8.csv", "utf-8", ","),
        ("utf8_bom.csv", "utf-8-sig", ","),
        ("semicolon.csv", "utf-8", ";"),
        ("tab.tsv", "utf-8", "\t"),
        ("utf16le_unicode_text.txt", "utf-16", "\t"),
        ("utf16be.csv", "utf-16", ","),
        ("cp932.csv", "cp932", ","),
    ],
)
def test_every_text_format_loads_the_same_requests(
    name: str, encoding: str, delimiter: str
) -> None:
    """UTF-8 (±BOM), UTF-16 LE/BE, CP932, comma/semicolon/tab all give the same three rows."""
    result = load_requests(FIXTURES / name)
    assert [(r.row, r.order_id, r.amount) for r in result.requests] == list(EXPECTED)
    assert result.errors == ()
    assert result.detected.encoding == encoding
    assert result.detected.delimiter == delimiter
    assert result.detected.header_row == 1


def test_cp932_is_used_not_shift_jis() -> None:
    """The CP932 fixture holds ①, which shift_jis can't decode; detection still reads it."""
    data = (FIXTURES / "cp932.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("shift_jis")
    result = load_requests(FIXTURES / "cp932.csv")
    assert result.requests[0].description == "memo ①0"


def test_encoding_override_is_honoured(write_file: WriteFile) -> None:
    """--encoding reads a file detection can't (Latin-1 is neither UTF-8 nor CP932 here)."""
    path = write_file("latin1.csv", "order_id,description\norder_test_A1,café\n", "latin-1")
    with pytest.raises(InputFileError):
        load_requests(path, full_refunds=True)
    result = load_requests(path, encoding="latin-1", full_refunds=True)
    assert result.detected.encoding == "iso8859-1"
    assert result.requests[0].description == "café"


def test_a_wrong_encoding_override_is_a_file_error() -> None:
    """Bytes that don't decode with the given encoding are refused, not garbled."""
    with pytest.raises(InputFileError) as caught:
        load_requests(FIXTURES / "cp932.csv", encoding="utf-8")
    assert caught.value.code == "input.encoding"


def test_an_unknown_encoding_name_is_a_config_error() -> None:
    """A misspelt --encoding is a usage mistake."""
    with pytest.raises(ConfigError):
        load_requests(FIXTURES / "utf8.csv", encoding="no-such-codec")


def test_title_rows_above_a_csv_header_are_skipped_and_rows_keep_their_numbers() -> None:
    """Row numbers are the lines a person sees, counting the title block and the header."""
    result = load_requests(FIXTURES / "titled.csv")
    assert result.detected.header_row == 4
    assert [r.row for r in result.requests] == [5, 6, 7]


def test_xlsx_with_a_title_block_on_a_chosen_sheet() -> None:
    """--sheet picks the sheet; the header is found below the title; rows are sheet rows."""
    result = load_requests(FIXTURES / "titled.xlsx", sheet="Refunds")
    assert result.detected.format == "xlsx"
    assert result.detected.sheet == "Refunds"
    assert result.detected.header_row == 4
    assert [(r.row, r.order_id, r.amount) for r in result.requests] == [
        (5, EXPECTED[0][1], 1500),
        (6, EXPECTED[1][1], None),
        (7, EXPECTED[2][1], 32000),
    ]
    assert any("2 sheets" in w for w in result.warnings)


def test_first_sheet_without_a_header_names_the_other_sheets() -> None:
    """The default is the first sheet; when it has no header the error points to --sheet."""
    with pytest.raises(InputFileError) as caught:
        load_requests(FIXTURES / "titled.xlsx")
    assert caught.value.code == "input.no_header"
    assert '"Refunds"' in caught.value.message


def test_a_missing_sheet_is_a_file_error_listing_the_sheets() -> None:
    """--sheet with a name the workbook lacks lists the names it has."""
    with pytest.raises(InputFileError) as caught:
        load_requests(FIXTURES / "titled.xlsx", sheet="Nope")
    assert caught.value.code == "input.sheet"
    assert '"Summary", "Refunds"' in caught.value.message


def test_sheet_option_on_a_text_file_is_a_config_error() -> None:
    """--sheet only makes sense for workbooks."""
    with pytest.raises(ConfigError):
        load_requests(FIXTURES / "utf8.csv", sheet="Refunds")


def test_a_workbook_renamed_to_csv_is_still_read_as_a_workbook(tmp_path: Path) -> None:
    """Content decides: a zip-based workbook is a workbook whatever its name."""
    renamed = tmp_path / "export.csv"
    renamed.write_bytes((FIXTURES / "excel_typed.xlsx").read_bytes())
    assert load_requests(renamed).detected.format == "xlsx"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("bad_no_header.csv", "input.no_header"),
        ("bad_no_id_column.csv", "input.no_id_column"),
        ("bad_not_a_workbook.xlsx", "input.unreadable"),
        ("bad_encoding.csv", "input.encoding"),
        ("does_not_exist.csv", "input.not_found"),
    ],
)
def test_file_level_failures_raise_input_file_error_with_a_code(name: str, code: str) -> None:
    """A file that can't be used as a whole raises InputFileError carrying a stable code."""
    with pytest.raises(InputFileError) as caught:
        load_requests(FIXTURES / name)
    assert caught.value.code == code


def test_a_missing_file_is_named_in_the_error(tmp_path: Path) -> None:
    """ "No such file: <path>" says which file was looked for."""
    path = tmp_path / "nowhere" / "returns.csv"
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert caught.value.code == "input.not_found"
    assert caught.value.message == f"No such file: {path}"


def test_a_folder_is_named_in_the_error(tmp_path: Path) -> None:
    """A folder given as the input is refused as a folder, named."""
    with pytest.raises(InputFileError) as caught:
        load_requests(tmp_path)
    assert caught.value.message == f"{tmp_path} is a folder, not a file."


@pytest.mark.parametrize(
    ("name", "content"), [("e.csv", b""), ("e.csv", b"  \r\n\r\n"), ("e.xlsx", b"")]
)
def test_an_empty_file_is_a_file_error(write_file: WriteFile, name: str, content: bytes) -> None:
    """Empty or whitespace-only files are refused as empty, whatever their name."""
    with pytest.raises(InputFileError) as caught:
        load_requests(write_file(name, content))
    assert caught.value.code == "input.empty"


def test_a_damaged_zip_is_a_file_error(write_file: WriteFile) -> None:
    """A truncated workbook is reported, not a crash of the reader."""
    data = (FIXTURES / "excel_typed.xlsx").read_bytes()
    with pytest.raises(InputFileError) as caught:
        load_requests(write_file("cut.xlsx", data[: len(data) // 2]))
    assert caught.value.code == "input.unreadable"


def test_header_only_file_has_no_rows(write_file: WriteFile) -> None:
    """A header and nothing else loads to zero rows, not an error."""
    result = load_requests(write_file("h.csv", "order_id,amount\r\n"))
    assert (result.total_rows, result.requests, result.errors) == (0, (), ())


def test_the_loader_imports_no_network_or_dataframe_library() -> None:
    """Loading a file pulls in neither aiohttp nor pandas: intake never sends anything."""
    code = (
        "import sys; from batch_refunds.intake import load_requests; "
        f"load_requests({str(FIXTURES / 'titled.xlsx')!r}, sheet='Refunds'); "
        "print(sorted(m for m in ('aiohttp', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
