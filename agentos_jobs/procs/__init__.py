"""The process layer: an item's worker (inside doit), its wrapper process, its workflow process, the warm parent
that forks them, and the prefixed output."""
