"""Settings: `[tool.agentos_jobs]` in the project's pyproject.toml, overridden by AGENTOS_* variables."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_PARALLEL = 10
DEFAULT_PARALLEL = 3


class ConfigError(Exception):
    """A setting that cannot be used; the message names the setting and the fix."""


@dataclass(frozen=True)
class Settings:
    root: Path
    base_dir: Path
    issues_dir: Path
    ideas_dir: Path
    docs_dir: Path
    max_iterations: int = 3
    worker_timeout_seconds: float = 3600.0
    provider: str = "offline"
    offline_latency_seconds: float = 0.0

    @property
    def lld_dir(self) -> Path:
        return self.docs_dir / "lld" / "active"

    @property
    def lineage_dir(self) -> Path:
        return self.docs_dir / "lineage" / "active"

    @property
    def drafts_dir(self) -> Path:
        return self.docs_dir / "issues" / "drafts"

    @property
    def checkpoints_dir(self) -> Path:
        return self.base_dir / "checkpoints"

    @property
    def done_dir(self) -> Path:
        return self.base_dir / "done"

    @property
    def runs_dir(self) -> Path:
        return self.base_dir / "runs"

    @property
    def logs_dir(self) -> Path:
        return self.base_dir / "logs" / "parallel"

    def checkpoint_path(self, workflow: str, item_id: str) -> Path:
        return self.checkpoints_dir / f"{workflow}_workflow_{item_id}.db"

    def marker_path(self, workflow: str, item_id: str) -> Path:
        return self.done_dir / workflow / f"{item_id}.json"


# key -> (type, environment variable or None)
_KEYS: dict[str, tuple[type, str | None]] = {
    "issues_dir": (str, None),
    "ideas_dir": (str, None),
    "docs_dir": (str, None),
    "max_iterations": (int, "AGENTOS_MAX_ITERATIONS"),
    "worker_timeout_seconds": (float, "AGENTOS_WORKER_TIMEOUT"),
    "provider": (str, "AGENTOS_PROVIDER"),
    "offline_latency_seconds": (float, "AGENTOS_OFFLINE_LATENCY"),
}
_DEFAULTS: dict[str, Any] = {
    "issues_dir": "docs/issues",
    "ideas_dir": "ideas/active",
    "docs_dir": "docs",
    "max_iterations": 3,
    "worker_timeout_seconds": 3600.0,
    "provider": "offline",
    "offline_latency_seconds": 0.0,
}
PROVIDERS = ("offline",)


def read_stanza(root: Path) -> dict[str, Any]:
    """The `[tool.agentos_jobs]` table of root/pyproject.toml, or {} when there is none."""
    path = root / "pyproject.toml"
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file") from None
    stanza = data.get("tool", {}).get("agentos_jobs", {})
    if not isinstance(stanza, dict):
        raise ConfigError(f"{path}: [tool.agentos_jobs] must be a table")
    return stanza


def _coerce(key: str, kind: type, value: object, source: str) -> Any:
    if kind is str:
        if isinstance(value, str) and value:
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
            return int(value)
    elif kind is float:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = -1.0
        if number >= 0 and not isinstance(value, bool):
            return number
    raise ConfigError(f"{source}: {key} must be a {'positive whole' if kind is int else 'non-negative'} "
                      f"{'number' if kind is not str else 'string'}, got {value!r}")


def load_settings(root: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    root = (root or Path.cwd()).resolve()
    env = os.environ if environ is None else environ
    stanza = read_stanza(root)
    unknown = sorted(set(stanza) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{root / 'pyproject.toml'}: unknown [tool.agentos_jobs] key(s) {', '.join(unknown)}; "
                          f"known keys: {', '.join(_KEYS)}")
    values: dict[str, Any] = {}
    for key, (kind, var) in _KEYS.items():
        if var and env.get(var, "") != "":
            values[key] = _coerce(key, kind, env[var], f"environment variable {var}")
        elif key in stanza:
            values[key] = _coerce(key, kind, stanza[key], "pyproject.toml [tool.agentos_jobs]")
        else:
            values[key] = _DEFAULTS[key]
    if values["provider"] not in PROVIDERS:
        raise ConfigError(f"unknown provider {values['provider']!r}: use one of {', '.join(PROVIDERS)}")
    base = Path(env.get("AGENTOS_BASE_DIR") or ".agentos")
    return Settings(
        root=root,
        base_dir=(root / base).resolve(),
        issues_dir=root / values["issues_dir"],
        ideas_dir=root / values["ideas_dir"],
        docs_dir=root / values["docs_dir"],
        max_iterations=values["max_iterations"],
        worker_timeout_seconds=values["worker_timeout_seconds"],
        provider=values["provider"],
        offline_latency_seconds=values["offline_latency_seconds"],
    )
