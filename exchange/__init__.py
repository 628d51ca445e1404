"""Everything the service does on a market: the Exchange port and its implementations.

ccxt exceptions never leave this package; every error raised here is from `domain.errors`.
"""
