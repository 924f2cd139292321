"""The web client's builds that tests need, made through one helper: ``ensure_web_build``.

Under pytest-xdist several processes ask for the same build at once, and a build that
empties its output (Vite's emptyOutDir) under a test reading it fails that test. So a
build runs only under an exclusive lock on a file in web/build/, and only when needed:
a stamp beside the outputs keeps a hash of the inputs and a digest of the outputs it
left, and a build whose inputs and outputs are both unchanged is not run again. In a
test session the first module to ask builds; every later one, in any worker, finds the
stamp current and reads what is there. Editing web/ during a session rebuilds on the
next request, as the suite run serially did.

This module imports nothing of the project's, so that conftest.py can use it before
the workers start.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
BUILD = WEB / "build"
#: What every build reads: the sources, tests and scripts, the configurations and the
#: pinned packages (one set for all builds: a change anywhere rebuilds each on demand).
INPUTS = (
    "src",
    "public",
    "test",
    "scripts",
    "index.html",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "vite.config.ts",
    "vite.browser-tests.config.ts",
)
_LOCK = BUILD / ".tests-build.lock"
_STAMPS = BUILD / ".tests-stamps"


@dataclass(frozen=True)
class WebBuild:
    #: The npm script (web/package.json) that makes it.
    script: str
    #: Where it is: what ``ensure_web_build`` returns.
    directory: Path
    #: What the script writes under ``directory`` ("" for all of it).
    outputs: tuple[str, ...] = ("",)


BUILDS = {
    # The application as shipped, into the server package (web/vite.config.ts).
    "shipped": WebBuild("build", ROOT / "src" / "uhealthsec" / "server" / "web_assets"),
    # The same with its crypto worker's client on `window` (tests/web/browser_app.py).
    "app": WebBuild("build:app-tests", BUILD / "app"),
    # web/test/ bundled for a page (tests/web/test_browser_vectors.py).
    "browser-tests": WebBuild("build:browser-tests", BUILD / "browser"),
    # tsc's JavaScript of src/, test/ and scripts/, run by Node (tests/web/node_jobs.py).
    "compile": WebBuild("compile", BUILD, ("src", "test", "scripts")),
}


def _inputs_hash() -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        top = WEB / name
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
        for path in files:
            digest.update(f"{path.relative_to(WEB).as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest() if path.exists() else b"-")
    return digest.hexdigest()


def _outputs_digest(build: WebBuild) -> str:
    """Names, sizes and modification times of what the build wrote: a build changed
    or removed by hand since the stamp is made again."""
    digest = hashlib.sha256()
    for output in build.outputs:
        top = build.directory / output
        if not top.is_dir():
            return "missing"
        for path in sorted(p for p in top.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(top)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@contextmanager
def _exclusive() -> Iterator[None]:
    BUILD.mkdir(parents=True, exist_ok=True)
    with _LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_web_build(name: str) -> Path:
    """Bring build ``name`` (one of BUILDS) up to date, one process at a time, and
    return its directory."""
    build = BUILDS[name]
    stamp = _STAMPS / f"{name}.json"
    with _exclusive():
        inputs = _inputs_hash()
        try:
            kept = json.loads(stamp.read_text())
        except (OSError, ValueError):
            kept = None
        if kept == {"inputs": inputs, "outputs": _outputs_digest(build)}:
            return build.directory
        npm = shutil.which("npm")
        assert npm, "Node.js 20 and npm are needed to build the web application"
        subprocess.run(
            [npm, "run", "--silent", build.script, "--prefix", str(WEB)],
            cwd=ROOT,
            check=True,
            timeout=300,
        )
        _STAMPS.mkdir(exist_ok=True)
        written = stamp.with_suffix(f".{os.getpid()}")
        written.write_text(json.dumps({"inputs": inputs, "outputs": _outputs_digest(build)}))
        written.replace(stamp)
    return build.directory
