"""A witness cosigns only its log's checkpoints: a note signed with the log's key whose body
names another log is refused before anything is signed. A corrupt witness state file is a
typed error naming it."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from arrears.client.testing import ORIGIN, LocalConsortium
from arrears.client.witness import Witness, load_state
from arrears.ledger.checkpoint import Checkpoint
from arrears.ledger.errors import StorageError, VerificationError
from arrears.ledger.note import Ed25519Signer, sign_note
from arrears.server.pki import load_ed25519
from arrears.v1 import events_pb2 as pb
from arrears.v1 import service_pb2 as spb


def test_a_checkpoint_naming_another_log_is_not_cosigned(tmp_path: Path) -> None:
    with LocalConsortium({"regulator": (pb.ROLE_REGULATOR,)}) as net:
        net.clock.set(date(2026, 11, 20))
        client = net.client("regulator")
        head = net.node.ledger.log.head()
        log_key = Ed25519Signer(ORIGIN, load_ed25519(net.pki.log_key))
        # the log's own key and name, over a body for another log
        note = sign_note(Checkpoint("other.example/log", head.size, head.root).body(), [log_key])
        real = client.aio._log
        sent: list[spb.AddCosignatureRequest] = []

        async def GetCheckpoint(req: Any, timeout: float | None = None) -> spb.SignedCheckpoint:
            return spb.SignedCheckpoint(note=note)

        async def AddCosignature(
            req: spb.AddCosignatureRequest, timeout: float | None = None
        ) -> spb.AddCosignatureResponse:
            sent.append(req)
            return spb.AddCosignatureResponse(note=note + req.signature_line.encode())

        class Tampered:
            def __getattr__(self, name: str) -> Any:
                return {"GetCheckpoint": GetCheckpoint, "AddCosignature": AddCosignature}.get(
                    name
                ) or getattr(real, name)

        client.aio._log = Tampered()
        w = Witness(
            client.aio, load_ed25519(net.pki.member("regulator").signing_key), tmp_path / "w.json"
        )
        with pytest.raises(VerificationError, match="origin"):
            client._run(w.cycle())
        assert sent == []
        assert load_state(tmp_path / "w.json") is None


@pytest.mark.parametrize(
    "text", ["{oops", "{}", '{"tree_size": 1, "root": "zz", "checkpoint": ""}']
)
def test_a_corrupt_witness_state_file_is_a_storage_error_naming_it(
    tmp_path: Path, text: str
) -> None:
    state = tmp_path / "w.json"
    state.write_text(text)
    with pytest.raises(StorageError, match=str(state)):
        load_state(state)
