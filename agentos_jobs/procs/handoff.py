"""What a parent hands an item's child process, as one JSON argument: the wrapper's (from its doit worker or
`agentos-jobs run`) and the workflow's (from its wrapper).

The environment carries only the user-facing contract (`AGENTOS_BASE_DIR`, `AGENTOS_WORKFLOW_DB`,
`AGENTOS_RUN_ID`, `TRACEPARENT`); everything else a child needs to know is here, said once, by its parent.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Handoff:
    run_id: str
    sources: tuple[str, ...]  # the item's input files as its parent found them: the child lists no folder
    parent: int | None = None  # whose exit stops the child: the wrapper's doit worker, the workflow's wrapper
    doit_pid: int | None = None  # the run's doit process, which the wrapper watches too
    outcome: str | None = None  # where the workflow writes its own outcome (an ItemResult)
    clear_line: bool = False  # the wrapper's lines replace the run's progress line on a terminal

    def to_arg(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_arg(cls, text: str) -> Handoff:
        """Raises ValueError for an argument that is not one (a child started by hand, wrongly)."""
        try:
            data: Any = json.loads(text)
            handoff = cls(**{**data, "sources": tuple(data["sources"])})
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"not a hand-off from agentos-jobs ({type(exc).__name__}: {exc})") from None
        if not isinstance(handoff.run_id, str) or not all(isinstance(s, str) for s in handoff.sources):
            raise ValueError("not a hand-off from agentos-jobs (run_id and sources must be text)")
        return handoff
