"""Spreadsheet intake: CSV/TSV/Excel → typed refund requests and row-numbered errors.

The only part of the package that reads spreadsheets; it never talks to Smartpay.
"""

from batch_refunds.intake.load import Detection, LoadResult, load_requests

__all__ = ["Detection", "LoadResult", "load_requests"]
