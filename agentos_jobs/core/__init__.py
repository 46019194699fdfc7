"""The small core every room builds on: settings, the exception tree, statuses and exit codes, an item's result, the
run folder's layout, locks and the OS-level process facts."""
