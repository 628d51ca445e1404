"""backtest room: the live strategy and engine code run over historical candles, in one thread
with a virtual clock (issue 14). See `backtest.runner`."""
