"""The pure Martingale strategy: standard library only, no clock, no I/O.

- `strategy.params.MartingaleParams` (with `from_mapping` for CLI, config and API input);
- `strategy.ladder`: `build_plan`, `validate_plan` and the rounding helpers;
- `strategy.state`: `MartingaleState`, `initial_state`;
- `strategy.machine.decide(state, event) -> (state, commands)`, one handler per event; the
  cycle's transitions they share are in `strategy.transitions`;
- `strategy.take_profit`: the take-profit variants (single, steps, trailing);
- `strategy.queries`: position, average price, open orders, stop-loss trigger, `tick_matters`.
"""
