"""`python -m agentos_jobs.workflows <workflow> <id> [<hand-off>]`: a workflow process started by hand (see
process.py; wrapper.py forks the one a run starts)."""

import sys

from ..procs import exit_now
from .process import main

if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
