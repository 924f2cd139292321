"""Opt-in pytest plugin: what a test process keeps alive, module after module.

``python -m pytest -p no:xdist -p tests.memory_probe tests/server`` prints, after each
module's teardown, the process's resident memory, the objects the garbage collector
tracks, and the longest full collection during the module; at the end, how long a full
collection takes. A count that keeps growing is something a fixture or a cache keeps
(a full collection stops every thread of the process, a server thread's included)."""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest

_longest_full = [0.0]
_started = [0.0]
#: The line of a module just torn down, printed once its last test is reported (output
#: is captured during the teardown itself).
_pending: list[str] = []
_config: list[pytest.Config] = []


def _timed(phase: str, info: dict[str, Any]) -> None:
    if info["generation"] != 2:
        return
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _longest_full[0] = max(_longest_full[0], time.perf_counter() - _started[0])


def _resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _say(line: str) -> None:
    # None in an xdist worker, whose output is not shown: run it with -p no:xdist.
    reporter = _config[0].pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(f"[memory] {line}")


def pytest_configure(config: pytest.Config) -> None:
    gc.callbacks.append(_timed)
    _config.append(config)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    yield
    if nextitem is None or nextitem.module is not item.module:  # type: ignore[attr-defined]
        _pending.append(
            f"{item.nodeid.split('::')[0]}: {_resident_mb():.0f} MB, "
            f"{len(gc.get_objects())} objects, longest full collection "
            f"{_longest_full[0] * 1000:.0f} ms"
        )
        _longest_full[0] = 0.0


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    while _pending:
        _say(_pending.pop(0))


def pytest_sessionfinish(session: pytest.Session) -> None:
    started = time.perf_counter()
    gc.collect()
    _say(
        f"end: {_resident_mb():.0f} MB, {len(gc.get_objects())} objects, "
        f"a full collection takes {(time.perf_counter() - started) * 1000:.0f} ms"
    )
