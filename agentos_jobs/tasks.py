"""What a repository's dodo.py imports: the stable name of the doit glue (run/tasks.py), so that a dodo.py written by
any version of `agentos-jobs init` keeps working when the package's insides move."""

from agentos_jobs.run.tasks import doit_config, task_issue, task_lld, task_sync_issues

__all__ = ["doit_config", "task_issue", "task_lld", "task_sync_issues"]
