"""Health and metrics of a running service: what `web.observability` serves."""

from services.observe.checks import CheckResult
from services.observe.observer import (
    ObservedService,
    Observer,
    ReadyReport,
    ServiceView,
    observer_for,
)

__all__ = [
    "CheckResult",
    "ObservedService",
    "Observer",
    "ReadyReport",
    "ServiceView",
    "observer_for",
]
