"""A PDF's text for the search index, read by pypdf in a child process of its own.

A PDF is a colleague's file or the user's own, and pypdf bounds each stream, not the
whole document: a few kilobytes can keep it busy for hours or make it decode gigabytes
(page after page of empty text operators, or of 70 MB streams). So the text is read
by ``python -m uhealthsec.client.pdf_text FILE`` under limits of memory and processor
time and a deadline, its output capped; a PDF that passes any of them gives no text
(the document is sent or saved all the same, found by its other facts). pypdf's
warnings, which can quote names from the file, go nowhere: the child's log is not
kept.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

#: Pages read, and characters kept (client/search.py reads at most this of any text).
MAX_PAGES = 300
MAX_CHARS = 2 * 1024 * 1024
#: What the child may use: memory (address space), processor seconds, and the wall
#: clock seconds the caller waits.
MEMORY_BYTES = 768 * 1024 * 1024
CPU_SECONDS = 20
WALL_SECONDS = 30


def pdf_text(
    path: str | os.PathLike[str],
    *,
    memory_bytes: int = MEMORY_BYTES,
    cpu_seconds: int = CPU_SECONDS,
    wall_seconds: float = WALL_SECONDS,
) -> str:
    """The text of the PDF at ``path``, or "" when it cannot be read within the limits."""
    command = [sys.executable, "-m", "uhealthsec.client.pdf_text", os.fspath(path)]
    try:
        # This interpreter and module, the file and the limits as arguments: no shell.
        done = subprocess.run(  # noqa: S603
            [*command, str(memory_bytes), str(cpu_seconds)],
            capture_output=True,
            timeout=wall_seconds,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if done.returncode != 0:
        return ""
    return done.stdout[: MAX_CHARS * 4].decode("utf-8", errors="replace")[:MAX_CHARS]


def _limit_this_process(memory_bytes: int, cpu_seconds: int) -> None:
    """Set by the child itself before reading anything (not by the parent between fork
    and exec, which is unsafe in a process with threads). Windows has no such limits:
    there the deadline alone holds."""
    try:
        import resource
    except ImportError:
        return
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))


def _extract(path: Path) -> str:
    from pypdf import PdfReader

    parts: list[str] = []
    size = 0
    reader = PdfReader(path)
    if reader.is_encrypted:
        return ""
    for page in reader.pages[:MAX_PAGES]:
        text = page.extract_text() or ""
        parts.append(text)
        size += len(text)
        if size >= MAX_CHARS:
            break
    return "\n".join(parts)[:MAX_CHARS]


def main() -> None:
    _limit_this_process(int(sys.argv[2]), int(sys.argv[3]))
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    try:
        text = _extract(Path(sys.argv[1]))
    # A malformed PDF fails in pypdf in many ways (its own errors, and KeyError,
    # TypeError... deep in a broken object): all of them mean "no text".
    except Exception:
        sys.exit(1)
    sys.stdout.buffer.write(text.encode("utf-8", errors="replace"))


if __name__ == "__main__":
    main()
