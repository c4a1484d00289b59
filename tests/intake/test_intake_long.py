"""Bounds tried at their real size: slow, so marked ``long`` (``make test-long``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_refunds.errors import InputFileError
from batch_refunds.intake import load_requests
from batch_refunds.intake.limits import MAX_ROWS

pytestmark = pytest.mark.long


def test_a_csv_one_row_past_excels_limit_is_refused(tmp_path: Path) -> None:
    """Rows 2 to 1,048,576 read; a record numbered 1,048,577 refuses the file."""
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("order_id,amount\n")
        f.writelines(f"order_test_A{i},100\n" for i in range(MAX_ROWS - 1))
    assert len(load_requests(path).requests) == MAX_ROWS - 1
    with path.open("a", encoding="utf-8") as f:
        f.write("order_test_Z1,100\n")
    with pytest.raises(InputFileError) as caught:
        load_requests(path)
    assert caught.value.code == "input.too_many_rows"
    assert "line 1,048,577" in caught.value.message
