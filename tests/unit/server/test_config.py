"""The server's configuration refuses what it cannot use, naming the setting."""

from __future__ import annotations

import re

import pytest

from arrears.ledger.errors import InputError
from arrears.server.config import ServerConfig


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:7443", "[::]:7443", "localhost:0", "unix:/run/arrears.sock"]
)
def test_a_listen_address_is_host_and_port_or_a_unix_socket(listen: str) -> None:
    assert ServerConfig.from_dict({"listen": listen}, {}).listen == listen


@pytest.mark.parametrize(
    ("listen", "said"),
    [
        ("localhost-7443", "config: listen: 'localhost-7443' is not HOST:PORT"),
        (":7443", "config: listen: ':7443' is not HOST:PORT"),
        ("127.0.0.1:http", "config: listen: '127.0.0.1:http' is not HOST:PORT"),
        ("127.0.0.1:65536", "config: listen: port 65536 is out of range (0 to 65535)"),
    ],
)
def test_a_malformed_listen_address_is_refused(listen: str, said: str) -> None:
    with pytest.raises(InputError, match="^" + re.escape(said)):
        ServerConfig.from_dict({"listen": listen}, {})
    with pytest.raises(InputError, match="config: listen: "):
        ServerConfig.from_dict({}, {"ARREARS_LISTEN": listen})


@pytest.mark.parametrize("name", ["limits", "rules"])
def test_a_nested_setting_that_is_not_a_table_is_refused(name: str) -> None:
    with pytest.raises(InputError, match=rf"^config: {name}: must be a \[{name}\] table, not 5$"):
        ServerConfig.from_dict({name: 5}, {})
