"""Refund many Smartpay orders at once: exactly once, resumable, reconciled."""

__version__ = "0.1.0"
