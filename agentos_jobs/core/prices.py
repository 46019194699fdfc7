"""What a call costs: a price per model (US dollars per million tokens) and the arithmetic.

The shipped table is the providers' list prices on PRICES_DATE; `[tool.agentos_jobs.prices]` adds or replaces
models. A model found in neither costs None ("unknown"), never zero: a bill that looks free is worse than one
that says it cannot be told. Anthropic's cache writes (1.25x input) are not counted: it bills them once per
cached prefix, and its usage reports them apart from the input tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PRICES_DATE = "2025-10-01"
MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens: input, input served from the provider's prompt cache, output."""

    input: float
    cached_input: float
    output: float


PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-5": Price(1.25, 0.125, 10.0),
    "gpt-5-mini": Price(0.25, 0.025, 2.0),
    "gpt-5-nano": Price(0.05, 0.005, 0.40),
    "gpt-4.1": Price(2.0, 0.50, 8.0),
    "gpt-4.1-mini": Price(0.40, 0.10, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.025, 0.40),
    "gpt-4o": Price(2.50, 1.25, 10.0),
    "gpt-4o-mini": Price(0.15, 0.075, 0.60),
    "o3": Price(2.0, 0.50, 8.0),
    "o4-mini": Price(1.10, 0.275, 4.40),
    # Anthropic
    "claude-opus-4-1": Price(15.0, 1.50, 75.0),
    "claude-opus-4": Price(15.0, 1.50, 75.0),
    "claude-sonnet-4-5": Price(3.0, 0.30, 15.0),
    "claude-sonnet-4": Price(3.0, 0.30, 15.0),
    "claude-haiku-4-5": Price(1.0, 0.10, 5.0),
    "claude-3-5-haiku": Price(0.80, 0.08, 4.0),
    # Google (Gemini 2.5 Pro: prompts up to 200k tokens)
    "gemini-2.5-pro": Price(1.25, 0.31, 10.0),
    "gemini-2.5-flash": Price(0.30, 0.075, 2.50),
    "gemini-2.5-flash-lite": Price(0.10, 0.025, 0.40),
}
_FIELDS = ("input", "cached_input", "output")


def parse_prices(table: object) -> dict[str, Price]:
    """`[tool.agentos_jobs.prices]`: `"<model>" = { input = 2.5, cached_input = 1.25, output = 10 }`.
    Raises ValueError saying what is wrong and how it should look."""
    shape = 'a table of models, e.g. "gpt-4.1" = { input = 2.0, cached_input = 0.5, output = 8.0 }'
    if not isinstance(table, Mapping):
        raise ValueError(f"must be {shape}, got {table!r}")
    prices = {}
    for model, entry in table.items():
        if not isinstance(entry, Mapping) or set(entry) != set(_FIELDS):
            raise ValueError(f"{model!r} must have exactly {', '.join(_FIELDS)} (dollars per million tokens), "
                             f"got {entry!r}")
        values = [entry[name] for name in _FIELDS]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < float("inf") for v in values):
            raise ValueError(f"{model!r}: prices must be non-negative numbers, got {dict(entry)!r}")
        prices[str(model)] = Price(*(float(v) for v in values))
    return prices


def price_of(model: str, overrides: Mapping[str, Price]) -> Price | None:
    """The price of `model` as a server names it, often dated ("gpt-4o-2024-08-06", "claude-sonnet-4-5-20250929")
    or with a path ("models/gemini-2.5-flash"): the longest known name it starts with, the settings' first."""
    name = model.rsplit("/", 1)[-1]
    for table in (overrides, PRICES):
        if name in table:
            return table[name]
        known = [key for key in table if name.startswith(f"{key}-")]
        if known:
            return table[max(known, key=len)]
    return None


def cost_usd(price: Price | None, input_tokens: int, cached_tokens: int, output_tokens: int) -> float | None:
    """A call's cost; its input tokens include the cached ones, billed at the cached price."""
    if price is None:
        return None
    fresh = max(input_tokens - cached_tokens, 0)
    return (fresh * price.input + cached_tokens * price.cached_input + output_tokens * price.output) / MILLION


def cache_saving(price: Price | None, cached_tokens: int) -> float:
    """What the prompt cache saved a call: its cached tokens at the input price less what they were billed."""
    return 0.0 if price is None else cached_tokens * max(price.input - price.cached_input, 0.0) / MILLION


BATCH_SHARE = 0.5  # OpenAI's Batch API and Anthropic's Message Batches bill half of every price, cached input too


def batch_price(price: Price | None) -> Price | None:
    return None if price is None else Price(*(part * BATCH_SHARE for part in (price.input, price.cached_input,
                                                                              price.output)))


def show_cost(cost: float | None) -> str:
    """$0.0123: four decimals, a cent's hundredth, so that cheap calls do not all read $0.00."""
    return "unknown" if cost is None else f"${cost:.4f}"
