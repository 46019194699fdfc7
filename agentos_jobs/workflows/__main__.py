"""`python -m agentos_jobs.workflows <workflow> <id> [<hand-off>]`: a workflow process started by hand, or by a
wrapper that cannot fork (see process.py, and wrapper.py for the forked one)."""

import sys

from ..procs import exit_now
from .process import main

if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
