import sys

from agentos_jobs.commands.cli import main

sys.exit(main())
