"""Build and run the Go verifier in ``goverify/main.go``.

The verifier uses golang.org/x/mod/sumdb/note and sumdb/tlog as installed by
Debian's golang-golang-x-mod-dev (``make interop-deps``), built in GOPATH mode
so that no module download is ever needed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

GOPATH = Path("/usr/share/gocode")
SUMDB_SOURCES = GOPATH / "src" / "golang.org" / "x" / "mod" / "sumdb"
SOURCE = Path(__file__).resolve().parent / "goverify" / "main.go"
TIMEOUT_S = 60.0


def go_available() -> str | None:
    """Say why the Go verifier cannot be built here, or None when it can."""
    if shutil.which("go") is None:
        return "the go toolchain is not on PATH (make interop-deps installs it)"
    for package in ("note", "tlog"):
        if not (SUMDB_SOURCES / package).is_dir():
            return (
                f"golang.org/x/mod/sumdb/{package} is not in {SUMDB_SOURCES.parent.parent}"
                " (make interop-deps installs golang-golang-x-mod-dev)"
            )
    if not SOURCE.is_file():
        return f"{SOURCE} is missing"
    return None


def _fingerprint() -> str:
    """Hash of everything the binary is built from that this repository can see."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    for package in ("note", "tlog"):
        for path in sorted((SUMDB_SOURCES / package).glob("*.go")):
            if not path.name.endswith("_test.go"):
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _go_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("GOFLAGS", "GOROOT", "GOBIN", "GOOS", "GOARCH", "GOWORK"):
        env.pop(name, None)
    env.update(
        GO111MODULE="off",
        GOPATH=str(GOPATH),
        GOCACHE=str(cache),
        CGO_ENABLED="0",
        GOTOOLCHAIN="local",
    )
    return env


@functools.cache
def build_verifier() -> Path:
    """Build the verifier once, or reuse a binary built from the same sources."""
    reason = go_available()
    if reason is not None:
        raise RuntimeError(f"cannot build the Go verifier: {reason}")
    out_dir = Path(tempfile.gettempdir()) / f"arrears-goverify-{_fingerprint()}"
    binary = out_dir / "goverify"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    out_dir.mkdir(parents=True, exist_ok=True)
    # Build under a unique name and rename, so concurrent sessions never run a
    # half-written binary.
    fd, partial_name = tempfile.mkstemp(prefix="goverify.", suffix=".partial", dir=out_dir)
    os.close(fd)
    partial = Path(partial_name)
    try:
        proc = subprocess.run(
            ["go", "build", "-o", str(partial), SOURCE.name],
            cwd=SOURCE.parent,
            env=_go_env(out_dir / "gocache"),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"go build of {SOURCE} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        partial.chmod(0o755)
        os.replace(partial, binary)
    finally:
        partial.unlink(missing_ok=True)
    return binary


def go_verify(request: dict[str, Any]) -> dict[str, Any]:
    """Run the verifier on one request and return its JSON answer."""
    proc = subprocess.run(
        [str(build_verifier())],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"goverify exited {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}"
        )
    answer = json.loads(proc.stdout)
    if not isinstance(answer, dict):
        raise RuntimeError(f"goverify answered {answer!r}, not a JSON object")
    return answer
