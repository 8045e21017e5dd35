"""The common shape of every service's client SDK: a channel, a stub, the team token."""

from __future__ import annotations

from distillery.core.auth import bearer_metadata
from distillery.core.channels import ClientTLS, open_channel


class ServiceClient:
    """Subclasses set ``stub_class``; calls pass ``metadata=self._metadata``."""

    stub_class: type

    def __init__(self, address: str, token: str | None, tls: ClientTLS | None = None) -> None:
        """``address``: ``host:port`` or ``grpcs://host:port``; ``tls`` None: the environment's settings."""
        self.address = address
        self._channel = open_channel(address, tls)
        self._stub = self.stub_class(self._channel)
        self._metadata = bearer_metadata(token)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
