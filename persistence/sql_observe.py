"""What the service's metrics read from the SQL database: strategies counted by state.

One grouped COUNT per scrape, whatever the number of strategies: the metrics never load rows.
"""

from __future__ import annotations

from sqlalchemy import func, select

from persistence import models as m
from persistence.records import ActualState
from persistence.sql_base import SqlBase


class SqlObserve(SqlBase):
    def count_strategies_by_state(self) -> dict[ActualState, int]:
        query = (
            select(m.Strategy.actual_state, func.count())
            .join(m.User, m.User.id == m.Strategy.user_id)
            .where(m.User.deleted_at.is_(None), m.Strategy.deleted_at.is_(None))
            .group_by(m.Strategy.actual_state)
        )
        with self._read("count strategies") as s:
            rows = s.execute(query).all()
        counts = dict.fromkeys(ActualState, 0)
        for state, count in rows:
            counts[ActualState(state)] = int(count)
        return counts
