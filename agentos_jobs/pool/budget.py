"""The run's spend ledger: what its calls cost so far, and the worst case of the calls under way.

Every worker process of a run shares one ledger in the run's folder, changed under a lock file (never the JSON
file that is replaced). Before a call its worst case (input as sent, at ~4 characters a token, plus
`max_tokens` of output) is held; a call that would take the run past `max_cost_usd` is not made. When the call
returns, the hold becomes what the provider's usage says it cost, also for an answer that is no use (cut off,
empty: billed all the same), or stays whole when that usage is no token count (unknown); a refused call
releases it. So the total never passes the budget unless a
provider counts more input tokens than the estimate, and then by that difference only. A call stopped by a
signal (a timeout, Ctrl+C) or killed may have been billed: its hold stays, and the run stops a little early,
never late.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentos_jobs.core.errors import ConfigError, OverBudget
from agentos_jobs.core.filelock import FileLock
from agentos_jobs.core.fsutil import atomic_write_json, read_json_object
from agentos_jobs.core.prices import Price, price_of, show_cost
from agentos_jobs.core.settings import Settings

LOCK_SECONDS = 60.0


@dataclass(frozen=True)
class Spend:
    spent: float = 0.0
    unknown: int = 0  # calls whose cost cannot be told (no price, no usage): counted at their worst case held
    held: float = 0.0
    limit: float | None = None
    saved: float = 0.0  # what the prompt cache saved the run's calls

    def line(self) -> str:
        """For the progress line: "$0.0123 spent of $0.0500", with "+ unknown" when some call has no price."""
        unknown = " + unknown" if self.unknown else ""
        return f"{show_cost(self.spent)}{unknown} spent" + (f" of {show_cost(self.limit)}" if self.limit else "")


def budget_price(settings: Settings, model: str) -> Price:
    """The price a budgeted call's worst case is reckoned at: a model with none cannot be kept to a budget."""
    price = price_of(model, settings.prices)
    if price is None:
        raise ConfigError(f"model {model!r} has no price, so max_cost_usd cannot be kept; add it to "
                          "[tool.agentos_jobs.prices] (dollars per million tokens) or remove max_cost_usd")
    return price


def read_spend(ledger: Path) -> Spend | None:
    """None until a paid call of the run has asked for its budget."""
    data = read_json_object(ledger)
    return None if data is None else _spend(data)


def _spend(data: dict[str, Any]) -> Spend:
    held, limit = data.get("held"), data.get("limit")
    return Spend(float(data.get("spent") or 0.0), int(data.get("unknown") or 0),
                 sum(float(v) for v in held.values()) if isinstance(held, dict) else 0.0,
                 float(limit) if isinstance(limit, int | float) else None, float(data.get("saved") or 0.0))


class Ledger:
    """One run's spend; `limit` None counts without refusing."""

    def __init__(self, path: Path, limit: float | None) -> None:
        self.path = path
        self.limit = limit

    def _change(self, change: Any) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(self.path.with_suffix(".lock"), LOCK_SECONDS):
            data = read_json_object(self.path) or {}
            held = data.get("held")
            data["held"] = held if isinstance(held, dict) else {}
            data["limit"] = self.limit
            result = change(data)
            atomic_write_json(self.path, data, durable=False)  # the run's own: no later run reads it
        return result

    def reserve(self, call: str, worst: float, what: str) -> None:
        """Hold `worst` dollars for `call`, or raise OverBudget naming `what` the call would have been."""
        def hold(data: dict[str, Any]) -> None:
            spend = _spend(data)
            if self.limit is not None and spend.spent + spend.held + worst > self.limit:
                raise OverBudget(
                    f"over budget: {what} could cost up to {show_cost(worst)}, and the run has spent "
                    f"{show_cost(spend.spent)} with {show_cost(spend.held)} held by calls under way, of "
                    f"max_cost_usd={self.limit:g}, so it was not made; raise max_cost_usd (or AGENTOS_MAX_COST) and "
                    "run again")
            data["held"][call] = worst
        self._change(hold)

    def settle(self, call: str, cost: float | None, saved: float = 0.0) -> None:
        """The call returned: its hold becomes its cost. An unknown cost (a model with no price, usage that is
        no token count) is counted apart, and as the worst case held for it: a cost that cannot be told is
        never less than the budget allowed for it, and a NaN never reaches the ledger. `saved`, what the prompt
        cache saved the call, is summed for the summary."""
        def settle(data: dict[str, Any]) -> None:
            counted = float(data["held"].pop(call, 0.0) or 0.0)
            if math.isfinite(saved) and saved > 0:
                data["saved"] = float(data.get("saved") or 0.0) + saved
            if cost is None or not (math.isfinite(cost) and cost >= 0):
                data["unknown"] = int(data.get("unknown") or 0) + 1
            else:
                counted = cost
            data["spent"] = float(data.get("spent") or 0.0) + counted
        self._change(settle)

    def release(self, call: str) -> None:
        """The call failed: a refused request is not billed."""
        self._change(lambda data: data["held"].pop(call, None))
