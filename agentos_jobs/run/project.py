"""The project as a doit process sees it: its settings, read once per process. doit runs dodo.py from its own
directory, so the working directory is the project's root."""

from __future__ import annotations

import functools
from pathlib import Path

from doit.exceptions import InvalidDodoFile

from agentos_jobs.core.errors import ConfigError
from agentos_jobs.core.settings import Settings, load_settings


@functools.cache
def _settings_for(root: Path) -> Settings:
    try:
        return load_settings(root)
    except ConfigError as exc:
        raise InvalidDodoFile(str(exc)) from None


def project_settings() -> Settings:
    return _settings_for(Path.cwd().resolve())
