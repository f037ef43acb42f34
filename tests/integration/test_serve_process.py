"""`arrears serve` as an operator runs it: its own process, configured by a TOML file and the
environment, JSON logs on stderr, Prometheus metrics, members served over mutual TLS, and a
graceful exit on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from arrears.client import Client, Identity, Trust
from arrears.ledger.note import Ed25519Signer
from arrears.server.pki import create_dev_pki, load_ed25519

ORIGIN = "ops.example/ledger"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_from_its_config_logs_json_serves_metrics_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    pki = create_dev_pki(tmp_path / "pki", ["operator"])
    config = tmp_path / "arrears.toml"
    config.write_text(
        f'listen = "127.0.0.1:0"\n'
        f'database_url = "sqlite:///{tmp_path / "ledger.db"}"\n'
        f'origin = "{ORIGIN}"\n'
        f'tls_cert = "{pki.server_cert}"\ntls_key = "{pki.server_key}"\n'
        f'client_ca = "{pki.ca}"\nlog_key = "{pki.log_key}"\noprf_key = "{pki.oprf_key}"\n'
        "[rules]\nretention_years = 5\n"
    )
    metrics = free_port()
    env = {**os.environ, "ARREARS_METRICS_PORT": str(metrics), "ARREARS_GRACE_SECONDS": "5"}
    arrears = Path(sys.executable).with_name("arrears")
    proc = subprocess.Popen(
        [str(arrears), "serve", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"arrears serving {ORIGIN} on port "), line
        port = int(line.split()[-1])

        # The operator starts the ledger, as the README says, with the CLI in its own process.
        vkey = Ed25519Signer(ORIGIN, load_ed25519(pki.log_key)).verifier_key
        (pki.root / "log-verifier-key.txt").write_text(vkey + "\n")
        files = pki.member("operator")
        admit = subprocess.run(
            [
                str(arrears),
                *("--server", f"127.0.0.1:{port}", "--pki", str(pki.root), "--member", "operator"),
                *("--state", str(tmp_path / "operator-trusted.json")),
                *("member", "admit", "operator", "-r", "operator"),
                *("--public-key", str(files.signing_key)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert admit.returncode == 0, admit.stdout + admit.stderr
        identity = Identity.from_files("operator", files.cert, files.key, pki.ca, files.signing_key)
        with Client(f"127.0.0.1:{port}", identity, Trust(vkey)) as c:
            cp = c.checkpoint()  # verified under the configured log key
        assert (cp.origin, cp.size) == (ORIGIN, 1)

        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10) as r:
            text = r.read().decode()
        assert "arrears_tree_size 1.0" in text and "arrears_appends_total 1.0" in text, text

        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    # Every line of ours on stderr is one JSON object (gRPC's C core may add plain lines).
    ours = [json.loads(x) for x in stderr.splitlines() if x.startswith("{")]
    messages = [x["message"] for x in ours]
    assert "serving" in messages and "shutting down" in messages, stderr
    serving = next(x for x in ours if x["message"] == "serving")
    assert (serving["port"], serving["origin"], serving["level"]) == (port, ORIGIN, "info")
