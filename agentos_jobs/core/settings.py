"""Settings: `[tool.agentos_jobs]` in the project's pyproject.toml, overridden by AGENTOS_* variables.

Each setting is declared once, as the dataclass field it sets: `max_tokens: int = setting(Whole(), 8192)` gives
its kind with its bounds or choices (core/setting_kinds.py), its default and, when it has one, its environment
variable; reading, validating and the defaults all follow from that line. Adding a setting is one line in
Settings (or in ModelChoice, for a key a role's table may set too), e.g.
    lease_ttl_seconds: float = setting(Number(), 30.0, "AGENTOS_LEASE_TTL")
and its row in docs/settings.md (tests/test_docs.py fails until it has one)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agentos_jobs.core.errors import ConfigError, TomlSyntaxError
from agentos_jobs.core.fsutil import display_path
from agentos_jobs.core.prices import Price
from agentos_jobs.core.setting_kinds import (
    Choice,
    Flag,
    GitHubRepo,
    Globs,
    Number,
    PriceTable,
    RelPath,
    Setting,
    Text,
    Whole,
    declared,
    setting,
)
from agentos_jobs.core.toml_source import TomlSource, closest

MAX_PARALLEL = 10
DEFAULT_PARALLEL = 3
PROVIDERS = ("offline", "openai", "anthropic", "gemini")
BATCH_PROVIDERS = ("openai", "anthropic")  # those whose batch API a role may use (batch = true: providers/batched.py)
ROLES = ("drafter", "reviewer")


@dataclass(frozen=True)
class ModelChoice:
    """Who answers one role's calls: the keys a `[tool.agentos_jobs.drafter]` or `.reviewer]` table may set, and the
    top level for both roles. `base_url` None means the SDK's own env var or its default."""

    provider: str = setting(Text(), "offline", "AGENTOS_PROVIDER")  # one of PROVIDERS: _check_provider
    model: str | None = setting(Text(), None, "AGENTOS_MODEL")
    base_url: str | None = setting(Text(), None)
    batch: bool = setting(Flag(), False, "AGENTOS_BATCH")  # the provider's batch API: half price, a later run


@dataclass(frozen=True)
class Settings:
    """What a run reads: each field below `base_dir` is a setting, declared by its `setting(...)` (the roles' keys
    are ModelChoice's); `root` and `base_dir` are found, not set."""

    root: Path
    base_dir: Path
    issues_dir: Path = setting(RelPath(), Path("docs/issues"))
    ideas_dir: Path = setting(RelPath(), Path("ideas/active"))
    docs_dir: Path = setting(RelPath(), Path("docs"))
    lld_path: Path | None = setting(RelPath(), None, key="lld_dir")  # None: <docs_dir>/lld/active
    lineage_path: Path | None = setting(RelPath(), None, key="lineage_dir")  # None: <docs_dir>/lineage/active
    max_iterations: int = setting(Whole(), 3, "AGENTOS_MAX_ITERATIONS")
    worker_timeout_seconds: float = setting(Number(), 3600.0, "AGENTOS_WORKER_TIMEOUT")
    offline_latency_seconds: float = setting(Number(zero_ok=True), 0.0, "AGENTOS_OFFLINE_LATENCY")
    drafter: ModelChoice = field(default_factory=ModelChoice)  # ModelChoice's settings, or the role's table
    reviewer: ModelChoice = field(default_factory=ModelChoice)
    max_retries: int = setting(Whole(), 5, "AGENTOS_MAX_RETRIES")
    base_backoff_seconds: float = setting(Number(zero_ok=True), 10.0, "AGENTOS_BASE_BACKOFF")
    max_backoff_seconds: float = setting(Number(), 300.0, "AGENTOS_MAX_BACKOFF")
    request_timeout_seconds: float = setting(Number(), 300.0, "AGENTOS_REQUEST_TIMEOUT")
    max_tokens: int = setting(Whole(), 8192)
    max_answer_chars: int = setting(Whole(), 1_000_000, "AGENTOS_MAX_ANSWER_CHARS")  # longer: the step fails
    progress: str = setting(Choice(("auto", "plain", "off")), "auto", "AGENTOS_PROGRESS")
    progress_interval_seconds: float = setting(Number(), 15.0, "AGENTOS_PROGRESS_INTERVAL")
    fail_fast: bool = setting(Flag(), False, "AGENTOS_FAIL_FAST")
    process_start: str = setting(Choice(("auto", "warm", "fresh")), "auto",
                                 "AGENTOS_PROCESS_START")  # warm parent or fresh interpreter (procs/launch.py)
    lease_store: str | None = setting(Text(), None, "AGENTOS_LEASE_STORE")  # None: beside the credentials file
    max_wait_seconds: float = setting(Number(), 120.0, "AGENTOS_MAX_WAIT")
    lease_ttl_seconds: float = setting(Number(), 30.0, "AGENTOS_LEASE_TTL")
    context: tuple[str, ...] = setting(Globs(), ())  # globs of files every prompt shows (context.py)
    context_tokens: int = setting(Whole(zero_ok=True), 20000, "AGENTOS_CONTEXT_TOKENS")
    lld_template: str | None = setting(Text(), None)  # a Markdown file in the repository; None: the built-in one
    lld_rubric: str | None = setting(Text(), None)
    file_issues: bool = setting(Flag(), False, "AGENTOS_FILE_ISSUES")  # file what the issue workflow approves
    repo: str | None = setting(GitHubRepo(), None)  # where it files; None: gh's default repository
    max_cost_usd: float | None = setting(Number(), None, "AGENTOS_MAX_COST")  # the budget (budget.py); None: none
    prices: Mapping[str, Price] = setting(PriceTable(), MappingProxyType({}))  # added to the shipped table
    service_tier: str | None = setting(Choice(("auto", "default", "flex", "priority")), None,
                                       "AGENTOS_SERVICE_TIER")  # OpenAI's: "flex" is slower, at the batch price

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


SETTINGS = declared(Settings)  # the top level's own settings, by their key in pyproject.toml
ROLE_SETTINGS = declared(ModelChoice)  # a role table's keys, also read at the top level for both roles
TABLE = ("tool", "agentos_jobs")


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


def _read(spec: Setting, value: object, source: str) -> Any:
    """The value, read by its kind; a ConfigError naming the source (file and line, or variable) if it is wrong."""
    try:
        return spec.kind.read(spec.key, value)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _in_env(spec: Setting, env: Mapping[str, str]) -> str | None:
    """Where the environment sets `spec` ("environment variable AGENTOS_..."); None when its variable is unset or
    empty."""
    return f"environment variable {spec.env}" if spec.env and env.get(spec.env, "") != "" else None


def _value(spec: Setting, stanza: Stanza, env: Mapping[str, str]) -> Any:
    """The environment's value when its variable is set (and not empty), else pyproject.toml's, else the default."""
    if from_env := _in_env(spec, env):
        return _read(spec, env[str(spec.env)], from_env)
    if spec.key in stanza.values:
        return _read(spec, stanza.values[spec.key], stanza.where(spec.key))
    return spec.default


def _check_provider(name: str, source: str) -> str:
    if name not in PROVIDERS:
        raise ConfigError(f"{source}: unknown provider {name!r}; use one of {', '.join(PROVIDERS)}")
    return name


def _role(stanza: Stanza, name: str, default: ModelChoice, forced: bool) -> ModelChoice:
    """A `[tool.agentos_jobs.<role>]` table overrides the top-level choice, unless AGENTOS_PROVIDER is set."""
    table = stanza.values.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{stanza.where(name)}: {name} must be a table with {', '.join(ROLE_SETTINGS)}")
    _refuse_unknown(stanza, (name,), table, list(ROLE_SETTINGS))
    values = {key: _read(spec, table[key], stanza.where(name, key)) for key, spec in ROLE_SETTINGS.items()
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
    batch = ROLE_SETTINGS["batch"]
    if from_env := _in_env(batch, env):
        choice = replace(choice, batch=_read(batch, env[str(batch.env)], from_env))
    if choice.batch and choice.provider not in BATCH_PROVIDERS:
        in_table = "batch" in (stanza.values.get(name) or {})
        where = from_env or (stanza.where(name, "batch") if in_table else stanza.where("batch"))
        raise ConfigError(f"{where}: the {name}'s provider {choice.provider!r} has no batch mode here; batch = true "
                          f"works with {', '.join(BATCH_PROVIDERS)}: use one, or set batch = false")
    return choice


def _top_choice(stanza: Stanza, env: Mapping[str, str], forced: bool) -> ModelChoice:
    """The top level's provider, model, endpoint and batch: both roles' unless a role's table says otherwise."""
    values = {spec.attr: _value(spec, stanza, env) for spec in ROLE_SETTINGS.values()}
    provider = _check_provider(values["provider"], str(ROLE_SETTINGS["provider"].env) if forced
                               else stanza.where("provider"))
    if forced and provider != stanza.values.get("provider", ROLE_SETTINGS["provider"].default):
        # Another provider's model and endpoint must not follow the override: the key would go to that host.
        values.update(model=env.get(str(ROLE_SETTINGS["model"].env)) or None, base_url=None)
    return ModelChoice(**values)


def _check_files(root: Path, stanza: Stanza, values: Mapping[str, Any]) -> None:
    """Read by every item: a wrong path must stop the run, not each item."""
    for key in ("lld_template", "lld_rubric"):
        if values[key] is not None and not (root / values[key]).is_file():
            raise ConfigError(f"{stanza.where(key)}: {key} = {values[key]!r} is not a file under {root}; fix the "
                              "path (relative to the repository root) or remove the setting")


def _check_service_tier(stanza: Stanza, env: Mapping[str, str], tier: str | None, choice: ModelChoice) -> None:
    """A tier only OpenAI serves, with no role on OpenAI, would be a setting that silently does nothing."""
    if tier is not None and "openai" not in (choice.provider, *(
            (stanza.values.get(role) or {}).get("provider") for role in ROLES)):
        where = _in_env(SETTINGS["service_tier"], env) or stanza.where("service_tier")
        raise ConfigError(f"{where}: service_tier is OpenAI's, and no role uses provider 'openai'; remove it")


def load_settings(root: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    root = (root or Path.cwd()).resolve()
    env = os.environ if environ is None else environ
    stanza = read_stanza(root)
    _refuse_unknown(stanza, (), stanza.values, [*SETTINGS, *ROLE_SETTINGS, *ROLES])
    values = {spec.attr: _value(spec, stanza, env) for spec in SETTINGS.values()}
    values = {attr: root / value if isinstance(value, Path) else value for attr, value in values.items()}
    forced = _in_env(ROLE_SETTINGS["provider"], env) is not None
    choice = _top_choice(stanza, env, forced)
    _check_files(root, stanza, values)
    _check_service_tier(stanza, env, values["service_tier"], choice)
    base = Path(env.get("AGENTOS_BASE_DIR") or ".agentos")
    return Settings(
        root=root,
        base_dir=(root / base).resolve(),
        drafter=_batched(stanza, "drafter", _role(stanza, "drafter", choice, forced), env),
        reviewer=_batched(stanza, "reviewer", _role(stanza, "reviewer", choice, forced), env),
        **values,
    )
