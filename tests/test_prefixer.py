"""Whole prefixed lines from a real child process that writes partial lines and both streams."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agentos_jobs.procs.prefixer import STDOUT, PrefixedOutput

CHILD = r"""
import sys, time
sys.stdout.write("part one, "); sys.stdout.flush(); time.sleep(0.2)
sys.stdout.write("part two\nsecond line\nno newline at the end"); sys.stdout.flush()
sys.stderr.write("an error line\n")
"""


def test_partial_lines_come_out_whole_and_prefixed(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    saved = os.dup(1)
    os.dup2(write_fd, 1)
    try:
        out = PrefixedOutput("LLD-9", tmp_path / "LLD-9.log")
        child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pumps = [out.pump(child.stdout, STDOUT), out.pump(child.stderr, STDOUT)]  # type: ignore[arg-type]
        child.wait()
        for pump in pumps:
            pump.join()
        out.close()
    finally:
        os.dup2(saved, 1)
        os.close(write_fd)
    console = os.read(read_fd, 65536).decode()
    lines = console.splitlines()
    assert sorted(lines) == sorted(["[LLD-9] part one, part two", "[LLD-9] second line",
                                    "[LLD-9] no newline at the end", "[LLD-9] an error line"])
    logged = (tmp_path / "LLD-9.log").read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in logged] == lines
