"""The exception tree drawn in core/errors.py's docstring is the tree its classes make, with their exit codes."""

from __future__ import annotations

import re

from agentos_jobs.core import errors
from agentos_jobs.core.errors import AgentosError

_NODE = re.compile(r"^(?P<lead>[ │├└─]*?)(?:[├└]── )?(?P<name>[A-Za-z]+)(?:\s+exit (?P<code>\d+))?(?:\s|$)")


def drawn_tree() -> dict[str, tuple[str, int | None]]:
    """Each class the docstring draws: its parent in the drawing, and the exit code written beside it."""
    start = (errors.__doc__ or "").index("    BaseException")
    parents: dict[int, str] = {}
    drawn: dict[str, tuple[str, int | None]] = {}
    for line in (errors.__doc__ or "")[start:].split("\n\n")[0].splitlines():
        depth = line.find("── ") // 4 if "── " in line else 0
        match = _NODE.match(line.strip() if depth == 0 else line[line.index("── ") + 3:])
        assert match, line
        parents[depth] = match["name"]
        drawn[match["name"]] = (parents.get(depth - 1, ""), int(match["code"]) if match["code"] else None)
    return drawn


def test_the_docstring_draws_every_exception_class_under_its_base_with_its_exit_code() -> None:
    classes = {name: value for name, value in vars(errors).items()
               if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == errors.__name__}
    drawn = drawn_tree()
    assert set(classes) <= set(drawn), "not drawn: " + ", ".join(sorted(set(classes) - set(drawn)))
    for name, cls in classes.items():
        parent, code = drawn[name]
        assert parent == cls.__bases__[0].__name__, (name, parent)
        assert code == (cls.exit_code if issubclass(cls, AgentosError) else None), (name, code)


def test_a_lease_store_out_of_reach_is_a_temporary_failure_and_one_that_refuses_is_to_fix() -> None:
    assert not issubclass(errors.StoreUnavailable, errors.ConfigError)
    assert errors.StoreUnavailable.exit_code == 75 and errors.ConfigError.exit_code == 3
    assert issubclass(errors.StoreRefused, errors.StoreUnavailable) and errors.StoreRefused.exit_code == 3
