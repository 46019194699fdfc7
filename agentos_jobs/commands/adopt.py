"""`agentos-jobs adopt` and `agentos-jobs replace`: the user's explicit say over files at an item's output paths
that this tool did not write (owned.py), which otherwise stop the item, `exists`, before any paid call.

- adopt: the existing design is the finished work. The item is marked done for its input as it is now, and its
  files stay the person's (released from our record, if a run or `replace` had put them there): when the input
  changes (an edit, `doit sync_issues`) or after `doit clean`, the item stops `exists` again, its files untouched.
- replace: the next run may write over them. Its files are recorded as ours, so the run moves the lineage folder
  to `superseded/` (as it does with its own earlier rounds) and writes the LLD in place (git keeps the old one).
  The only way a run writes over a person's design.
"""

from __future__ import annotations

from agentos_jobs.core.fsutil import display_path
from agentos_jobs.core.ids import prefix_for
from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.run_id import new_run_id
from agentos_jobs.core.run_locks import RunLock
from agentos_jobs.core.settings import load_settings
from agentos_jobs.items.discovery import discover, open_item
from agentos_jobs.items.markers import marker_is_current, write_marker
from agentos_jobs.items.owned import ADOPTED, OutputFolders, Record, foreign_files
from agentos_jobs.steps.checkpoint import delete_checkpoint


def take_over(action: str, workflow: str, item_ids: list[str], every: bool = False) -> list[str]:
    """One line per item: what was taken and what follows. Holds the run lock (until this process ends): never
    under a running item's feet. `every`: each item that would stop `exists` (pending, with a file of someone
    else's at its output paths)."""
    lines = []
    settings = load_settings()
    lock = RunLock(settings)  # held while this function works on the items (released when it is collected)
    lock.acquire(f"{action} {workflow}")
    base = BaseDir(settings.base_dir)
    folders = OutputFolders(settings, workflow)  # one listing for every item (`--all`: thousands)
    if every:
        items = [item for item in discover(settings, workflow)[0]
                 if not marker_is_current(str(base.marker(workflow, item.id)), item.input_hash)
                 and foreign_files(settings, workflow, item.id, folders)]
        if not items:
            return [f"no {workflow} item has files agentos-jobs did not write: nothing to {action}"]
    else:
        items = [open_item(workflow, item_id)[1] for item_id in item_ids]
    for item in items:
        item_id = item.id
        outputs = folders.outputs(item_id)
        files = outputs.files()
        prefix, final = prefix_for(workflow, item_id), display_path(outputs.final, settings.root)
        if not files:
            lines.append(f"{prefix}: nothing at {final} or {display_path(outputs.lineage, settings.root)}; "
                         "nothing to " + action)
            continue
        if action == "adopt" and outputs.final not in files:
            lines.append(f"{prefix}: {final} does not exist, so there is no design to adopt; 'agentos-jobs replace "
                         f"{workflow} {item_id}' lets the next run write one")
            continue
        record = Record(settings, workflow, item_id)
        marker = base.marker(workflow, item_id)
        if action == "adopt":
            record.release(files)
            write_marker(marker, workflow=workflow, item_id=item_id,
                         sources=[display_path(p, settings.root) for p in item.sources], input_hash=item.input_hash,
                         run_id=ADOPTED + new_run_id(), outputs=[final])
            delete_checkpoint(base.checkpoint(workflow, item_id))  # as a finished item's: done, nothing to resume
            lines.append(f"{prefix}: adopted {final} ({len(files)} file(s) in all) as the finished work: the item is "
                         "done; when its input changes it stops 'exists' again, its files untouched "
                         f"('agentos-jobs replace {workflow} {item_id}' lets a run write over them)")
        else:
            record.take(files)
            done = marker_is_current(str(marker), item.input_hash)
            said = [f"write over {final}"] if outputs.final in files else []
            if outputs.lineage.exists():
                said.append(f"move {display_path(outputs.lineage, settings.root)} to superseded/")
            lines.append(f"{prefix}: the next run may {' and '.join(said)} ({len(files)} file(s); git keeps what is "
                         "committed)" + (f"; it is done: 'doit clean {workflow}:{item_id}' runs it again"
                                         if done else ""))
    return lines  # the lock goes with this frame
