"""The distribution: one wheel, `arrears.*` packages only, every subpackage and data file in it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_holds_every_subpackage_and_nothing_at_top_level(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("arrears-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"arrears", next(t for t in tops if t.endswith(".dist-info"))}
    for module in (
        "arrears/ledger/merkle.py",
        "arrears/ledger/migrations/env.py",
        "arrears/ledger/migrations/versions/0001_log.py",
        "arrears/ledger/py.typed",
        "arrears/server/service.py",
        "arrears/server/cli.py",
        "arrears/client/sdk.py",
        "arrears/client/py.typed",
        "arrears/v1/events_pb2.py",
        "arrears/v1/events_pb2.pyi",
        "arrears/v1/service_pb2_grpc.py",
        "arrears/v1/events.proto",
        "arrears/v1/py.typed",
    ):
        assert module in names, module
    migrations = sorted(p.name for p in (ROOT / "ledger/migrations/versions").glob("0*.py"))
    assert all(f"arrears/ledger/migrations/versions/{m}" in names for m in migrations)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "arrears = arrears.server.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
