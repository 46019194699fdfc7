"""Tasks of this repository: `doit -n 3 lld`, `doit issue`, `doit list --all -s` (agentos-jobs)."""

from agentos_jobs.tasks import doit_config, task_issue, task_lld, task_sync_issues

DOIT_CONFIG = doit_config()
__all__ = ["DOIT_CONFIG", "task_issue", "task_lld", "task_sync_issues"]
