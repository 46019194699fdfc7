"""The `agentos-jobs` commands: init, run, keys, report, adopt/replace, sync, until-done."""
