"""`AGENTOS_SHARD=i/n`: this machine's share of the items, so that n CI jobs split one repository's items.

An item belongs to shard `sha256(id) mod n + 1`: stable across runs, machines and Python versions (Python's own
hash() is salted per process), so the n shards never overlap and together hold every item. An item keeps its
shard when others are added or removed.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from doit.exceptions import InvalidDodoFile

from agentos_jobs.core.errors import ConfigError

VARIABLE = "AGENTOS_SHARD"


class Identified(Protocol):
    @property
    def id(self) -> str: ...


Item = TypeVar("Item", bound=Identified)


@dataclass(frozen=True)
class Shard:
    index: int  # 1 .. count
    count: int

    def holds(self, item_id: str) -> bool:
        digest = hashlib.sha256(item_id.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


def parse_shard(text: str) -> Shard:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ConfigError(f"{VARIABLE} must be i/n with 1 <= i <= n (e.g. 2/3 for the second of three shards), "
                          f"got {text!r}; fix it or unset it to run every item")
    return Shard(int(match.group(1)), int(match.group(2)))


def shard_of(environ: Mapping[str, str] | None = None) -> Shard | None:
    """The shard AGENTOS_SHARD names, or None (every item) when it is unset or empty."""
    text = (os.environ if environ is None else environ).get(VARIABLE, "")
    return parse_shard(text) if text.strip() else None


def this_share(items: list[Item], environ: Mapping[str, str] | None = None) -> list[Item]:
    """The items this machine runs: all, or AGENTOS_SHARD's share. For dodo.py: a malformed value stops
    doit in one line (exit 3), as a bad setting does."""
    try:
        shard = shard_of(environ)
    except ConfigError as exc:
        raise InvalidDodoFile(str(exc)) from None
    return items if shard is None else [item for item in items if shard.holds(item.id)]
