"""Shared vocabulary: ids, Decimal money, orders, fills, market rules, messages and errors.

Imports only the standard library. Nothing here reads a clock or does I/O.
"""
