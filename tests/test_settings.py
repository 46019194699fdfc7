"""Each setting is declared once (core/settings.py): its default lives in that declaration and nowhere else, and
each kind's reader says what it wants in the words the messages use. No doit run: these read the declaration."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from agentos_jobs.core.setting_kinds import Choice, Flag, GitHubRepo, Globs, Kind, Number, PriceTable, Whole
from agentos_jobs.core.settings import ROLE_SETTINGS, SETTINGS, ModelChoice, Settings, load_settings

NOT_SETTINGS = {"root", "base_dir", "drafter", "reviewer"}  # found, not set; the roles' keys are ModelChoice's


def field_default(cls: type, name: str) -> Any:
    found = {f.name: f for f in dataclasses.fields(cls)}[name]
    return found.default_factory() if found.default is dataclasses.MISSING else found.default


def test_each_setting_is_declared_once_and_its_default_is_the_declared_one(tmp_path: Path) -> None:
    keys = [*SETTINGS, *ROLE_SETTINGS]
    assert len(keys) == len(set(keys)) > 30, "a key declared twice, at the top level and in ModelChoice"
    variables = [spec.env for spec in (*SETTINGS.values(), *ROLE_SETTINGS.values()) if spec.env]
    assert len(variables) == len(set(variables)), "two settings read one environment variable"
    for cls, specs in ((Settings, SETTINGS), (ModelChoice, ROLE_SETTINGS)):
        assert {f.name for f in dataclasses.fields(cls)} - NOT_SETTINGS == {spec.attr for spec in specs.values()}
        for spec in specs.values():
            assert field_default(cls, spec.attr) is spec.default, spec.key

    loaded = load_settings(tmp_path, {})  # no pyproject.toml, no variable: every value is its default
    for spec in SETTINGS.values():
        anchored = tmp_path.resolve() / spec.default if isinstance(spec.default, Path) else spec.default
        assert getattr(loaded, spec.attr) == anchored, spec.key
    for spec in ROLE_SETTINGS.values():
        assert getattr(loaded.drafter, spec.attr) == getattr(loaded.reviewer, spec.attr) == spec.default, spec.key


@pytest.mark.parametrize(("kind", "value", "read"), [
    (Whole(), "12", 12), (Whole(), 3, 3), (Whole(zero_ok=True), 0, 0), (Number(), "1e3", 1000.0),
    (Number(zero_ok=True), 0, 0.0), (Flag(), " Yes ", True), (Flag(), False, False),
    (Choice(("auto", "off")), "off", "off"), (Globs(), ["src/**/*.py"], ("src/**/*.py",)),
    (GitHubRepo(), "ghe.example/acme/app", "ghe.example/acme/app"), (PriceTable(), {}, {}),
])
def test_each_kind_reads_what_it_accepts(kind: Kind[Any], value: object, read: object) -> None:
    assert kind.read("x", value) == read


@pytest.mark.parametrize(("kind", "value", "said"), [
    (Whole(), "²", "x must be a positive whole number, got '²'"),  # a digit int() cannot read: no traceback
    (Whole(), True, "x must be a positive whole number, got True"),
    (Whole(zero_ok=True), "-1", "x must be a non-negative whole number, got '-1'"),
    (Number(), 0, "x must be a positive finite number, got 0"),
    (Number(zero_ok=True), "nan", "x must be a non-negative finite number, got 'nan'"),
    (Flag(), "maybe", "x must be true or false (1 or 0), got 'maybe'"),
    (Choice(("auto", "off")), "loud", "x must be one of auto, off, got 'loud'"),
    (GitHubRepo(), "", "x must be a non-empty string, got ''"),
    (PriceTable(), [], "x: must be a table of models"),
])
def test_each_kind_names_what_it_refuses(kind: Kind[Any], value: object, said: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(said)):
        kind.read("x", value)
