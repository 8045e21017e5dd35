"""The common shape of every service's client SDK: a channel, a stub, the team token."""

from __future__ import annotations

from distillery.core.auth import bearer_metadata
from distillery.core.grpc_server import open_channel


class ServiceClient:
    """Subclasses set ``stub_class``; calls pass ``metadata=self._metadata``."""

    stub_class: type

    def __init__(self, address: str, token: str | None) -> None:
        self.address = address
        self._channel = open_channel(address)
        self._stub = self.stub_class(self._channel)
        self._metadata = bearer_metadata(token)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
