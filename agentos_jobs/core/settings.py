"""Settings: `[tool.agentos_jobs]` in the project's pyproject.toml, overridden by AGENTOS_* variables."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agentos_jobs.core.errors import AgentosError
from agentos_jobs.core.fsutil import display_path
from agentos_jobs.core.prices import Price, parse_prices
from agentos_jobs.core.status import EXIT_REFUSED
from agentos_jobs.core.toml_source import TomlSource, TomlSyntaxError, closest

MAX_PARALLEL = 10
DEFAULT_PARALLEL = 3
PROVIDERS = ("offline", "openai", "anthropic", "gemini")
BATCH_PROVIDERS = ("openai", "anthropic")  # those whose batch API a role may use (batch = true: providers/batched.py)
ROLES = ("drafter", "reviewer")


class ConfigError(AgentosError):
    """A setting that cannot be used; the message names the setting (its file and line) and the fix. The run
    does not start: exit 3, under doit as under `agentos-jobs`."""

    exit_code = EXIT_REFUSED


@dataclass(frozen=True)
class ModelChoice:
    """Who answers one role's calls. `base_url` None means the SDK's own env var or its default."""

    provider: str = "offline"
    model: str | None = None
    base_url: str | None = None
    batch: bool = False  # calls go through the provider's batch API: half price, answered in a later run


@dataclass(frozen=True)
class Settings:
    root: Path
    base_dir: Path
    issues_dir: Path
    ideas_dir: Path
    docs_dir: Path
    lld_path: Path | None = None  # `lld_dir`; None: <docs_dir>/lld/active
    lineage_path: Path | None = None  # `lineage_dir`; None: <docs_dir>/lineage/active
    max_iterations: int = 3
    worker_timeout_seconds: float = 3600.0
    offline_latency_seconds: float = 0.0
    drafter: ModelChoice = field(default_factory=ModelChoice)
    reviewer: ModelChoice = field(default_factory=ModelChoice)
    max_retries: int = 5
    base_backoff_seconds: float = 10.0
    max_backoff_seconds: float = 300.0
    request_timeout_seconds: float = 300.0
    max_tokens: int = 8192
    max_answer_chars: int = 1_000_000  # a longer answer fails its step, kept in the lineage only
    progress: str = "auto"
    progress_interval_seconds: float = 15.0
    fail_fast: bool = False
    process_start: str = "auto"  # how an item's process starts: warm parent or fresh interpreter (launch.py)
    lease_store: str | None = None
    max_wait_seconds: float = 120.0
    lease_ttl_seconds: float = 30.0
    context: tuple[str, ...] = ()  # globs of files every prompt shows (context.py)
    context_tokens: int = 20000
    lld_template: str | None = None  # a Markdown file in the repository; None: the built-in one (template.py)
    lld_rubric: str | None = None
    file_issues: bool = False  # the issue workflow files what it approves (filing.py)
    repo: str | None = None  # where it files: OWNER/REPO; None: gh's default repository
    max_cost_usd: float | None = None  # the run's budget (budget.py); None: no limit
    prices: Mapping[str, Price] = field(default_factory=dict)  # added to or replacing the shipped table
    service_tier: str | None = None  # OpenAI's tier: "flex" is slower, at the batch price (prices.py)

    @property
    def lld_dir(self) -> Path:
        return self.lld_path or self.docs_dir / "lld" / "active"

    @property
    def lineage_dir(self) -> Path:
        return self.lineage_path or self.docs_dir / "lineage" / "active"

    @property
    def drafts_dir(self) -> Path:
        return self.docs_dir / "issues" / "drafts"

    def inputs_dir(self, workflow: str) -> Path:
        """Where a workflow's items come from: issues for `lld`, briefs for `issue`."""
        return self.issues_dir if workflow == "lld" else self.ideas_dir

    def role(self, name: str) -> ModelChoice:
        return self.drafter if name == "drafter" else self.reviewer



# key -> (type, environment variable or None, default)
_KEYS: dict[str, tuple[type, str | None, Any]] = {
    "issues_dir": (str, None, "docs/issues"),
    "ideas_dir": (str, None, "ideas/active"),
    "docs_dir": (str, None, "docs"),
    "lld_dir": (str, None, None),
    "lineage_dir": (str, None, None),
    "max_iterations": (int, "AGENTOS_MAX_ITERATIONS", 3),
    "worker_timeout_seconds": (float, "AGENTOS_WORKER_TIMEOUT", 3600.0),
    "offline_latency_seconds": (float, "AGENTOS_OFFLINE_LATENCY", 0.0),
    "provider": (str, "AGENTOS_PROVIDER", "offline"),
    "model": (str, "AGENTOS_MODEL", None),
    "base_url": (str, None, None),
    "batch": (bool, "AGENTOS_BATCH", False),
    "max_retries": (int, "AGENTOS_MAX_RETRIES", 5),
    "base_backoff_seconds": (float, "AGENTOS_BASE_BACKOFF", 10.0),
    "max_backoff_seconds": (float, "AGENTOS_MAX_BACKOFF", 300.0),
    "request_timeout_seconds": (float, "AGENTOS_REQUEST_TIMEOUT", 300.0),
    "max_tokens": (int, None, 8192),
    "max_answer_chars": (int, "AGENTOS_MAX_ANSWER_CHARS", 1_000_000),
    "progress": (str, "AGENTOS_PROGRESS", "auto"),
    "progress_interval_seconds": (float, "AGENTOS_PROGRESS_INTERVAL", 15.0),
    "fail_fast": (bool, "AGENTOS_FAIL_FAST", False),
    "process_start": (str, "AGENTOS_PROCESS_START", "auto"),
    "lease_store": (str, "AGENTOS_LEASE_STORE", None),
    "max_wait_seconds": (float, "AGENTOS_MAX_WAIT", 120.0),
    "lease_ttl_seconds": (float, "AGENTOS_LEASE_TTL", 30.0),
    "context": (list, None, ()),
    "context_tokens": (int, "AGENTOS_CONTEXT_TOKENS", 20000),
    "lld_template": (str, None, None),
    "lld_rubric": (str, None, None),
    "file_issues": (bool, "AGENTOS_FILE_ISSUES", False),
    "repo": (str, None, None),
    "max_cost_usd": (float, "AGENTOS_MAX_COST", None),
    "prices": (dict, None, {}),
    "service_tier": (str, "AGENTOS_SERVICE_TIER", None),
}
_CHOICES = {"progress": ("auto", "plain", "off"), "process_start": ("auto", "warm", "fresh"),
            "service_tier": ("auto", "default", "flex", "priority")}
_ROLE_KEYS = ("provider", "model", "base_url", "batch")
_ZERO_OK = ("offline_latency_seconds", "base_backoff_seconds", "context_tokens")
TABLE = ("tool", "agentos_jobs")
_REPO = re.compile(r"(?:[\w.-]+/)?[\w.-]+/[\w.-]+")


@dataclass(frozen=True)
class Stanza:
    """`[tool.agentos_jobs]` as written in the project's pyproject.toml (empty when there is none), and where."""

    values: dict[str, Any]
    shown: str = "pyproject.toml"  # the file, as messages name it
    source: TomlSource | None = None

    def line_of(self, *names: str) -> int | None:
        return self.source.line_of(*TABLE, *names) if self.source else None

    def where(self, *names: str) -> str:
        """`pyproject.toml:12 [tool.agentos_jobs.reviewer]`: what a message about a setting starts with."""
        line = self.line_of(*names)
        table = ".".join((*TABLE, *names[:-1]))
        return f"{self.shown}{f':{line}' if line else ''} [{table}]"


def read_stanza(root: Path) -> Stanza:
    """The `[tool.agentos_jobs]` table of root/pyproject.toml. A table whose name is that one misspelt
    (`[tool.agentos-jobs]`, as the command is spelt) would be passed over without a word: it is an error."""
    path = root / "pyproject.toml"
    shown = display_path(path, Path.cwd())
    if not path.exists():
        return Stanza({}, shown)
    try:
        source = TomlSource.parse(path.read_text(encoding="utf-8"))
    except TomlSyntaxError as exc:
        raise ConfigError(f"{shown}:{exc.line}: not valid TOML: {exc.why}; fix that line") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown}: not valid TOML (not UTF-8: {exc.reason}); fix the file") from None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot be read ({exc.strerror}); fix the file") from None
    tool = source.data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{shown}:{source.line_of('tool')}: 'tool' must be a table; fix the file")
    for name in tool:
        if name != TABLE[1] and closest(name, [TABLE[1]], cutoff=0.8):  # [tool.agentos_core]: another tool's
            raise ConfigError(f"{shown}:{source.line_of('tool', name)}: [tool.{name}] is not read: agentos-jobs "
                              f"reads [tool.{TABLE[1]}] (with an underscore); rename the table")
    stanza = tool.get(TABLE[1], {})
    if not isinstance(stanza, dict):
        raise ConfigError(f"{shown}:{source.line_of(*TABLE)}: [tool.agentos_jobs] must be a table")
    return Stanza(stanza, shown, source)


def _refuse_unknown(stanza: Stanza, table: tuple[str, ...], keys: Mapping[str, Any], known: list[str]) -> None:
    """An unknown key is named with its line and the setting it most likely meant."""
    unknown = sorted(set(keys) - set(known), key=lambda key: stanza.line_of(*table, key) or 0)
    if not unknown:
        return
    first = unknown[0]
    guess = closest(first, known)
    fix = f"did you mean {guess}?" if guess else f"the settings here are {', '.join(known)}"
    more = f" (also unknown: {', '.join(unknown[1:])})" if unknown[1:] else ""
    raise ConfigError(f"{stanza.where(*table, first)}: {first} is not a setting; {fix}{more}")


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _coerce(key: str, kind: type, value: object, source: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
        raise ConfigError(f"{source}: {key} must be true or false (1 or 0), got {value!r}")
    if kind is str:
        choices = _CHOICES.get(key)
        if isinstance(value, str) and value and (choices is None or value in choices):
            return value
        wanted = f"one of {', '.join(choices)}" if choices else "a non-empty string"
        raise ConfigError(f"{source}: {key} must be {wanted}, got {value!r}")
    if kind is list:
        if isinstance(value, list) and all(isinstance(item, str) and item.strip() for item in value):
            return tuple(value)
        raise ConfigError(f"{source}: {key} must be a list of file paths or globs, e.g. "
                          f"[\"docs/architecture.md\", \"src/**/*.py\"], got {value!r}")
    if kind is dict:
        try:
            return parse_prices(value)
        except ValueError as exc:
            raise ConfigError(f"{source}: {key}: {exc}") from None
    least = 0 if key in _ZERO_OK else 1
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= least:
            return value
        if isinstance(value, str) and value.strip().isdigit() and int(value) >= least:
            return int(value)
    elif kind is float:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = -1.0
        positive = number > 0 or (number == 0 and key in _ZERO_OK)
        if positive and math.isfinite(number) and not isinstance(value, bool):
            return number
    raise ConfigError(f"{source}: {key} must be a {'non-negative' if key in _ZERO_OK else 'positive'}"
                      f"{' whole' if kind is int else ' finite'} number, got {value!r}")


def _check_provider(name: str, source: str) -> str:
    if name not in PROVIDERS:
        raise ConfigError(f"{source}: unknown provider {name!r}; use one of {', '.join(PROVIDERS)}")
    return name


def _role(stanza: Stanza, name: str, default: ModelChoice, forced: bool) -> ModelChoice:
    """A `[tool.agentos_jobs.<role>]` table overrides the top-level choice, unless AGENTOS_PROVIDER is set."""
    table = stanza.values.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{stanza.where(name)}: {name} must be a table with {', '.join(_ROLE_KEYS)}")
    _refuse_unknown(stanza, (name,), table, list(_ROLE_KEYS))
    values = {key: _coerce(key, _KEYS[key][0], table[key], stanza.where(name, key)) for key in _ROLE_KEYS
              if key in table}
    provider = _check_provider(values.get("provider", default.provider), stanza.where(name, "provider"))
    if forced or not table:  # checked all the same: a typo must not wait for the day the override is unset
        return default
    same = provider == default.provider
    return ModelChoice(provider=provider, model=values.get("model", default.model if same else None),
                       base_url=values.get("base_url", default.base_url if same else None),
                       batch=values.get("batch", default.batch))


def _batched(stanza: Stanza, name: str, choice: ModelChoice, env: Mapping[str, str]) -> ModelChoice:
    """AGENTOS_BATCH decides for both roles; else the role's table or the top level. Only a provider with a batch
    API can batch."""
    if env.get("AGENTOS_BATCH", "") != "":
        choice = replace(choice, batch=_coerce("batch", bool, env["AGENTOS_BATCH"],
                                               "environment variable AGENTOS_BATCH"))
    if choice.batch and choice.provider not in BATCH_PROVIDERS:
        where = ("environment variable AGENTOS_BATCH" if env.get("AGENTOS_BATCH") else
                 stanza.where(name, "batch") if "batch" in (stanza.values.get(name) or {}) else stanza.where("batch"))
        raise ConfigError(f"{where}: the {name}'s provider {choice.provider!r} has no batch mode here; batch = true "
                          f"works with {', '.join(BATCH_PROVIDERS)}: use one, or set batch = false")
    return choice


def load_settings(root: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    root = (root or Path.cwd()).resolve()
    env = os.environ if environ is None else environ
    stanza = read_stanza(root)
    _refuse_unknown(stanza, (), stanza.values, [*_KEYS, *ROLES])
    values: dict[str, Any] = {}
    for key, (kind, var, default) in _KEYS.items():
        if var and env.get(var, "") != "":
            values[key] = _coerce(key, kind, env[var], f"environment variable {var}")
        elif key in stanza.values:
            values[key] = _coerce(key, kind, stanza.values[key], stanza.where(key))
        else:
            values[key] = default
    forced = bool(env.get("AGENTOS_PROVIDER"))
    provider = _check_provider(values.pop("provider"), "AGENTOS_PROVIDER" if forced else stanza.where("provider"))
    model, base_url, batch = values.pop("model"), values.pop("base_url"), values.pop("batch")
    if forced and provider != stanza.values.get("provider", _KEYS["provider"][2]):
        # Another provider's model and endpoint must not follow the override: the key would go to that host.
        model, base_url = env.get("AGENTOS_MODEL") or None, None
    choice = ModelChoice(provider, model, base_url, batch)
    for key in ("lld_template", "lld_rubric"):  # read by every item: a wrong path must stop the run, not each item
        if values[key] is not None and not (root / values[key]).is_file():
            raise ConfigError(f"{stanza.where(key)}: {key} = {values[key]!r} is not a file under {root}; fix the "
                              "path (relative to the repository root) or remove the setting")
    if values["repo"] is not None and not _REPO.fullmatch(values["repo"]):
        raise ConfigError(f"{stanza.where('repo')}: repo = {values['repo']!r} is not a GitHub repository; write it "
                          "as gh takes it, OWNER/REPO (or HOST/OWNER/REPO), or remove it to file in gh's default "
                          "repository")
    if values["service_tier"] is not None and "openai" not in (choice.provider, *(
            (stanza.values.get(role) or {}).get("provider") for role in ROLES)):
        where = "environment variable AGENTOS_SERVICE_TIER" if env.get("AGENTOS_SERVICE_TIER") else \
            stanza.where("service_tier")
        raise ConfigError(f"{where}: service_tier is OpenAI's, and no role uses provider 'openai'; remove it")
    base = Path(env.get("AGENTOS_BASE_DIR") or ".agentos")
    return Settings(
        root=root,
        base_dir=(root / base).resolve(),
        issues_dir=root / values.pop("issues_dir"),
        ideas_dir=root / values.pop("ideas_dir"),
        docs_dir=root / values.pop("docs_dir"),
        lld_path=root / lld if (lld := values.pop("lld_dir")) else None,
        lineage_path=root / lineage if (lineage := values.pop("lineage_dir")) else None,
        drafter=_batched(stanza, "drafter", _role(stanza, "drafter", choice, forced), env),
        reviewer=_batched(stanza, "reviewer", _role(stanza, "reviewer", choice, forced), env),
        **values,
    )
