"""Every bound intake puts on a file, in one place, each named with its unit.

A spreadsheet comes from outside, so nothing in it is believed before it is checked
against what is possible: how wide a header can be, how long a cell, how many rows a sheet
has and how big a grid the Excel reader would have to build. Each bound is generous for a
real refund file and ends a hostile one with a clear message, before the cost of reading
it can grow out of hand (the numbers behind them are in the README, "The spreadsheet").
"""

from __future__ import annotations

MAX_COLUMNS = 1_000
"""Header cells, up to the last non-blank one. A refund file needs a handful; more than this
is a pasted data dump or a hostile file (``input.too_wide``)."""

MAX_CELL_CHARS = 32_767
"""Characters in one cell: Excel's own limit, so a longer cell cannot have been made in Excel
and would not survive a report opened in it (``input.cell_too_long``)."""

MAX_ROWS = 1_048_576
"""Rows of a sheet or records of a text file, counted as Excel numbers them: Excel's own
limit, so every row a person could have looked at is read (``input.too_many_rows``)."""

MAX_SHEET_CELLS = 10_000_000
"""Rows × columns of the grid the Excel reader builds for a sheet, counted from A1 to the
farthest cell: about 1,000,000 rows of 10 columns. The reader allocates the whole grid at
once, so a single stray cell at XFD1048576 would ask for 17 billion (``input.too_big``)."""

MAX_SHEET_COLUMNS = 16_384
"""Columns of a sheet, A to XFD: Excel's own limit."""

MAX_SHEET_XML_BYTES = 1 << 30
"""Bytes of a sheet's XML once decompressed (1 GiB); a 200,000-row sheet is about 80 MB."""

MAX_LINE_CHARS = 1 << 20
"""Characters in one line of a text file (1 Mi), read before the ``csv`` module splits it
into cells, so one line without a line break can't fill the memory (``input.line_too_long``)."""

MAX_SNIFF_CHARS = 2 << 20
"""Characters of the first lines of a text file read to find its delimiter and header."""

MAX_AMOUNT_CHARS = 40
"""Characters in an amount cell: ``¥100,000,000`` has 12. Python refuses to turn more than
4,300 digits into a number at all, so longer text is refused before it is parsed."""
