"""The repository as content a model may read: which files, their secrets redacted, git's globs."""
