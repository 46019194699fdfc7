"""API keys: the credentials file (or one standard env var), loaded so that a key is never shown.

Only a key's name travels: into leases, logs, traces, summaries and error messages. `Credential.key` is kept
out of `repr`, and `scrub` removes it from any text that came back from a provider.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from agentos_jobs.core.errors import CredentialsError
from agentos_jobs.core.fsutil import parse_json
from agentos_jobs.core.layout import credentials_path

ENV_KEYS = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}
FORMAT = ('{"credentials": [{"name": "key-1", "provider": "openai", "type": "api_key", "key": "...", '
          '"enabled": true, "scope": "optional quota group", "max_concurrency": 1}]}')
_MASKED = re.compile(r"\*{3}")
_WORD = re.compile(r"\S+")
FRAGMENT = 10  # characters of a key in a row that are never shown; fewer are too common to tell
_LONG_WORD = re.compile(rf"\S{{{FRAGMENT},}}")


@dataclass(frozen=True)
class Credential:
    name: str
    provider: str
    key: str = field(repr=False)
    scope: str | None = None
    max_concurrency: int = 1
    enabled: bool = True

    @property
    def fingerprint(self) -> str:
        """Tells two keys apart in a listing without revealing either."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:8]

    @cached_property
    def _runs(self) -> frozenset[str]:
        """Every FRAGMENT-character run of the key, made once per key for `scrub`."""
        return _runs_of(self.key)

    def _holds_run(self, word: str) -> bool:
        runs = self._runs
        return any(word[i : i + FRAGMENT] in runs for i in range(len(word) - FRAGMENT + 1))

    def scrub(self, text: str) -> str:
        """Text from a server's error: the key, and any word holding a piece of it (FRAGMENT characters in a
        row, or its first or last 8) or masked like one (`sk-proj-****...WXYZ`, as OpenAI echoes a wrong key),
        becomes `<key name>`. A key has no spaces, so every piece of it lies inside one word."""
        return self._scrub(text, strict=True)

    def scrub_answer(self, text: str) -> str:
        """A model's answer: only a word holding FRAGMENT characters of the key in a row is replaced; `***`
        (markdown) and an 8-character prefix such as `sk-proj-` are ordinary prose there."""
        return self._scrub(text, strict=False)

    def _scrub(self, text: str, strict: bool) -> str:
        if not self.key:
            return text
        label = f"<key {self.name}>"
        ends = [self.key[:8], self.key[-8:]] if strict and len(self.key) >= 16 else []

        def word(match: re.Match[str]) -> str:
            token = match.group(0)
            if self._holds_run(token) or any(end in token for end in ends) or (strict and _MASKED.search(token)):
                return label
            return token

        return _WORD.sub(word, text.replace(self.key, label))


class KeyMask:
    """Every key the pool holds, masked in text that leaves for a provider: a request must never carry a key of
    the pool (a file the repository holds, a pasted log), whichever key the call itself uses. One pass over the
    text for all keys: the FRAGMENT-character runs of every key, each mapped to its key's name."""

    def __init__(self, credentials: Iterable[Credential]) -> None:
        self._keys = sorted(((c.key, c.name) for c in credentials if len(c.key) >= FRAGMENT), key=lambda k: -len(k[0]))
        self._runs = {run: name for key, name in self._keys for run in _runs_of(key)}

    def mask(self, text: str) -> str:
        """The text with every key, and every word holding FRAGMENT characters of one in a row, as `<key NAME>`."""
        if not self._keys:
            return text
        for key, name in self._keys:
            text = text.replace(key, f"<key {name}>")

        def word(match: re.Match[str]) -> str:
            token = match.group(0)
            for at in range(len(token) - FRAGMENT + 1):
                if (name := self._runs.get(token[at : at + FRAGMENT])) is not None:
                    return f"<key {name}>"
            return token

        return _LONG_WORD.sub(word, text)


def _runs_of(key: str) -> frozenset[str]:
    return frozenset(key[i : i + FRAGMENT] for i in range(len(key) - FRAGMENT + 1))


def _printable(key: str) -> bool:
    """A key goes into an HTTP header: printable ASCII without spaces."""
    return all(33 <= ord(char) <= 126 for char in key)


def _check_private(path: Path) -> None:
    # Mode bits mean "private" on POSIX only: on Windows st_mode is always 0o666 or 0o444 and this would refuse
    # every file (the file is in the user's profile there; an ACL check would need pywin32). Not yet skipped there.
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise CredentialsError(f"credentials file {path} is open to group or others (mode {mode:04o}); "
                               f"run: chmod 600 {path}")


def _parse_entry(path: Path, index: int, entry: object) -> Credential:
    where = f"{path}: credentials[{index}]"
    if not isinstance(entry, dict):
        raise CredentialsError(f"{where} must be an object like {FORMAT}")
    name, provider, key = entry.get("name"), entry.get("provider"), entry.get("key")
    if not isinstance(name, str) or not name.strip():
        raise CredentialsError(f"{where} needs a non-empty 'name'")
    where = f"{path}: credential {name!r}"
    if provider not in ENV_KEYS:
        raise CredentialsError(f"{where}: 'provider' must be one of {', '.join(ENV_KEYS)}")
    if entry.get("type", "api_key") != "api_key":
        raise CredentialsError(f"{where}: only 'type': 'api_key' is supported")
    if not isinstance(key, str) or not key.strip():
        raise CredentialsError(f"{where}: 'key' must be a non-empty string")
    if not _printable(key.strip()):
        raise CredentialsError(f"{where}: 'key' holds spaces, control or non-ASCII characters (a stray quote or "
                               "line break from copying?); paste the key again")
    scope, concurrency, enabled = entry.get("scope"), entry.get("max_concurrency", 1), entry.get("enabled", True)
    if scope is not None and not isinstance(scope, str):
        raise CredentialsError(f"{where}: 'scope' must be a string")
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise CredentialsError(f"{where}: 'max_concurrency' must be a whole number of at least 1")
    if not isinstance(enabled, bool):
        raise CredentialsError(f"{where}: 'enabled' must be true or false")
    return Credential(name=name, provider=str(provider), key=key.strip(), scope=scope or None,
                      max_concurrency=concurrency, enabled=enabled)


def load_credentials(environ: Mapping[str, str] | None = None) -> list[Credential]:
    """Every key of the credentials file; without the file, one key per standard env var that is set."""
    env = os.environ if environ is None else environ
    path = credentials_path(env)
    if not path.exists() and env.get("AGENTOS_CREDENTIALS"):
        raise CredentialsError(f"AGENTOS_CREDENTIALS names {path}, which does not exist; fix the path or unset the "
                               "variable to use the provider's own key variable")
    if not path.exists():
        found = []
        for provider, variables in ENV_KEYS.items():
            var = next((name for name in variables if env.get(name, "").strip()), None)
            if var and not _printable(env[var].strip()):
                raise CredentialsError(f"{var} holds spaces, control or non-ASCII characters; set it to the key alone")
            if var:
                found.append(Credential(name=f"env:{var}", provider=provider, key=env[var].strip()))
        return found
    _check_private(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"credentials file {path} cannot be read ({type(exc).__name__})") from None
    try:
        data = parse_json(text)
    except ValueError as exc:  # the reason quotes no file content, so no key
        raise CredentialsError(f"credentials file {path} is not valid JSON ({exc}); expected {FORMAT}") from None
    entries = data.get("credentials") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise CredentialsError(f"credentials file {path} must hold {FORMAT}")
    credentials = [_parse_entry(path, index, entry) for index, entry in enumerate(entries)]
    names = [credential.name for credential in credentials]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CredentialsError(f"credentials file {path}: name(s) {', '.join(duplicates)} used twice; names "
                               "must be unique")
    return credentials


def missing_key_message(provider: str, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    path = credentials_path(env)
    example = FORMAT.replace('"provider": "openai"', f'"provider": "{provider}"')
    if path.exists():
        ignored = [name for name in ENV_KEYS[provider] if env.get(name, "").strip()]
        why = (f" ({' and '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} set but not used: when the "
               "credentials file exists, it is the only source of keys)" if ignored else "")
        return f"no enabled {provider} key in {path}{why}; add one: {example}"
    return (f"no {provider} key: set {' or '.join(ENV_KEYS[provider])}, or write {path} (or the file named by "
            f"AGENTOS_CREDENTIALS) as {example} with chmod 600")
