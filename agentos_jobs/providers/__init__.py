"""LLM providers behind one small interface (base.py): an adapter per SDK, the retry loop through the credential
pool (pooled.py), batch mode (batched.py) and the registry that picks an adapter by name (registry.py). They know
nothing of designs: the offline stand-in is design/offline.py."""
