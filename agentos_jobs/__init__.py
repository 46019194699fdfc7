"""agentos-jobs: run LLM workflows over every pending item of a repository, in parallel, resumably."""

__version__ = "0.1.0"
