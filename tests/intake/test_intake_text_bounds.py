"""The bounds on reading a text file: line length, the csv module's cell limit, rows."""

from __future__ import annotations

import csv
import io
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_refunds.errors import InputFileError
from batch_refunds.intake import load_requests, read
from batch_refunds.intake.limits import MAX_LINE_CHARS, MAX_ROWS

from .conftest import WriteFile


def test_a_field_past_the_csv_limit_is_refused_with_its_line(write_file: WriteFile) -> None:
    """A quoted cell that never ends is refused by line number (input.cell_too_long)."""
    body = "order_test_A1,100\n" * 3 + 'order_test_B2,"' + ("z" * 1000 + "\n") * 200
    path = write_file("q.csv", "order_id,amount\n" + body)
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert caught.value.code == "input.cell_too_long"
    assert caught.value.message.startswith("Line ")
    assert f"{csv.field_size_limit():,} characters" in caught.value.message


def test_a_line_without_a_break_is_refused_without_reading_it_whole(
    write_file: WriteFile,
) -> None:
    """A 20 Mi-character line is refused by number (input.line_too_long) while the memory
    used stays far below what reading that line whole would take."""
    path = write_file("l.csv", "order_id,amount\norder_test_A1,100\n" + "a," * (10 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(InputFileError) as caught:
            load_requests(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == "input.line_too_long"
    assert caught.value.message.startswith("Line 3 is longer than")
    assert peak < 8 << 20


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(["\n", "\r", "\r\n", "a", "bb", "x" * 700]), max_size=60),
    sizes=st.lists(st.integers(min_value=1, max_value=999), min_size=1, max_size=8),
)
def test_line_lengths_are_measured_across_chunk_edges(pieces: list[str], sizes: list[int]) -> None:
    """However the text is cut into chunks shorter than the bound (as the decoder's are), the
    first line over it is found where it starts, as newline="" splits lines (the bound is
    lowered to 1,000 here)."""
    text = "".join(pieces)
    expected = None
    offset = 0
    for line in io.StringIO(text, newline="").readlines():
        if len(line.rstrip("\r\n")) > 1000:
            expected = offset
            break
        offset += len(line)
    measured = read._Lines()
    at = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(read, "MAX_LINE_CHARS", 1000)
        while at < len(text):
            size = sizes[at % len(sizes)]
            measured.add(text[at : at + size])
            at += size
    assert measured.too_long_at == expected


def test_a_line_begun_late_in_one_chunk_is_counted_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line that starts after a break in one chunk and ends in the next is measured from
    its start: 600 + 600 characters are over a bound of 1,000."""
    monkeypatch.setattr(read, "MAX_LINE_CHARS", 1000)
    measured = read._Lines()
    measured.add("ab\n" + "x" * 600)
    measured.add("x" * 600 + "\nshort\n")
    assert measured.too_long_at == 3


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_the_long_line_is_named_by_its_number(tmp_path: Path, ending: str) -> None:
    """The message counts lines as an editor does, whatever the line endings, also when a
    \\r\\n falls across the edge of the chunks the file is decoded in."""
    title = "T" * (read._DECODE_CHUNK - 1) + ending  # its \\r is the first chunk's last byte
    rows = ("order_test_A1,100" + ending) * 10
    path = tmp_path / "n.csv"
    path.write_text(
        title + "order_id,amount" + ending + rows + "z" * (MAX_LINE_CHARS + 1) + ending,
        encoding="utf-8",
        newline="",
    )
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert caught.value.message.startswith("Line 13 is longer")


def test_the_decoder_reads_chunks_shorter_than_a_line_may_be() -> None:
    """_Lines needs chunks of fewer characters than MAX_LINE_CHARS."""
    assert read._DECODE_CHUNK < MAX_LINE_CHARS


def test_a_long_line_in_the_title_block_is_refused_too(write_file: WriteFile) -> None:
    """The lines read to find the header are bounded the same way."""
    path = write_file("t.csv", "x" * (MAX_LINE_CHARS + 10) + "\norder_id,amount\n")
    with pytest.raises(InputFileError, match="Line 1 is longer") as caught:
        load_requests(path)
    assert caught.value.code == "input.line_too_long"


def test_rows_past_max_rows_are_refused(
    write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record numbered beyond MAX_ROWS refuses the file (input.too_many_rows); up to it is
    fine. The bound is lowered here; tests/intake/test_intake_long.py tries the real one."""
    monkeypatch.setattr(read, "MAX_ROWS", 6)
    rows = "".join(f"order_test_A{i},100\n" for i in range(5))
    path = write_file("r.csv", "order_id,amount\n" + rows)
    assert len(load_requests(path).requests) == 5  # rows 2-6
    path = write_file("r2.csv", "order_id,amount\n" + rows + "order_test_B1,100\n")
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert caught.value.code == "input.too_many_rows"
    assert "more than 6 rows" in caught.value.message
    assert MAX_ROWS == 1_048_576


def test_the_sample_read_for_the_header_is_bounded(tmp_path: Path) -> None:
    """Twenty-five lines of 1 Mi characters each are not all kept to find the header."""
    line = "x" * (MAX_LINE_CHARS - 1) + "\n"
    path = tmp_path / "s.csv"
    path.write_text(line * 25 + "order_id,amount\n", encoding="utf-8")
    with path.open(encoding="utf-8", newline="") as f:
        sample = read._sample(f)
    assert sum(map(len, sample)) <= read.MAX_SNIFF_CHARS
