"""Client SDK for a remote ``VerifierService`` (the CLI and other services use this)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from distillery.core.grpc_client import ServiceClient
from distillery.v1 import verifier_pb2 as pb
from distillery.v1 import verifier_pb2_grpc as pb_grpc
from distillery.verifier import messages
from distillery.verifier.grade import GradingConfig
from distillery.verifier.records import ThoughtRecord, Verdict


class VerifierClient(ServiceClient):
    stub_class = pb_grpc.VerifierServiceStub

    def verify(self, records: Iterable[ThoughtRecord], grading: GradingConfig | None = None,
               timeout_s: float | None = None) -> list[Verdict]:
        """One batch call; verdicts in input order. ``grading`` overrides the server's tolerances."""
        request = pb.VerifyRequest(thoughts=[messages.record_to_pb(r) for r in records])
        if grading is not None:
            request.grading.CopyFrom(messages.grading_to_pb(grading))
        response = self._stub.Verify(request, metadata=self._metadata, timeout=timeout_s)
        return [messages.verdict_from_pb(v) for v in response.verdicts]

    def verify_stream(self, records: Iterable[ThoughtRecord]) -> Iterator[tuple[int, Verdict]]:
        """Stream records out, ``(index, verdict)`` back as they complete (any order)."""
        responses = self._stub.VerifyStream((messages.record_to_pb(r) for r in records), metadata=self._metadata)
        for message in responses:
            yield message.index, messages.verdict_from_pb(message)

    def info(self) -> pb.VerifierInfo:
        return self._stub.GetInfo(pb.GetInfoRequest(), metadata=self._metadata)

    def verify_many(self, records: Iterable[ThoughtRecord]) -> Iterator[Verdict]:
        """Stream records through the service; verdicts re-ordered to input order."""
        waiting: dict[int, Verdict] = {}
        next_index = 0
        for index, verdict in self.verify_stream(records):
            waiting[index] = verdict
            while next_index in waiting:
                yield waiting.pop(next_index)
                next_index += 1
