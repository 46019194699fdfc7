"""GitHub through its CLI: open issues synced in, approved issue drafts filed out."""
