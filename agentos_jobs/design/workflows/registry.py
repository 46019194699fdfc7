"""The workflows a task can run, by name: the one module that imports both."""

from __future__ import annotations

from agentos_jobs.design.workflows.base import Workflow
from agentos_jobs.design.workflows.issue import run_issue
from agentos_jobs.design.workflows.lld import run_lld


def get_workflow(name: str) -> Workflow:
    return {"lld": run_lld, "issue": run_issue}[name]
