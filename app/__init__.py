"""Composition root and CLI (console script `martingale`)."""
