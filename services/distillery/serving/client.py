"""Client SDK for a served student: ``solve`` over HTTP (JSON) or gRPC (``StudentService``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence

from google.protobuf.json_format import MessageToDict

from distillery.core.auth import bearer_metadata
from distillery.core.channels import open_channel
from distillery.v1 import student_pb2 as pb
from distillery.v1 import student_pb2_grpc as pb_grpc


class StudentError(RuntimeError):
    """The endpoint refused or failed a call; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class StudentClient:
    """``StudentClient("http://127.0.0.1:8000/NAME", token).solve("question")``."""

    def __init__(self, endpoint: str, token: str | None, timeout_s: float = 300.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def solve(self, question: str, methods: Sequence[str] | None = None, strategy: str = "vote", samples: int = 0,
              temperature: float | None = None) -> dict:
        body: dict = {"question": question, "strategy": strategy}
        if methods:
            body["methods"] = list(methods)
        if samples:
            body["samples"] = samples
        if temperature is not None:
            body["temperature"] = temperature
        return self.post("/v1/solve", body)

    def post(self, path: str, body: dict) -> dict:
        return self._call(urllib.request.Request(self.endpoint + path, data=json.dumps(body).encode(),
                                                 headers=self._headers(), method="POST"))

    def get(self, path: str) -> dict:
        return self._call(urllib.request.Request(self.endpoint + path, headers=self._headers()))

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _call(self, request: urllib.request.Request) -> dict:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = raw[:300].decode(errors="replace")
            raise StudentError(exc.code, message) from None


class StudentGrpcClient:
    """``Solve`` through Ray Serve's gRPC proxy; ``application`` is the deployment's name."""

    def __init__(self, address: str, application: str, token: str | None) -> None:
        self._channel = open_channel(address)
        self._stub = pb_grpc.StudentServiceStub(self._channel)
        self._metadata = (("application", application), *bearer_metadata(token))

    def solve(self, question: str, methods: Sequence[str] | None = None, strategy: str = "",
              timeout_s: float = 300.0, samples: int = 0, temperature: float | None = None) -> pb.SolveResponse:
        request = pb.SolveRequest(question=question, methods=list(methods or ()), strategy=strategy, samples=samples,
                                  temperature=temperature)
        return self._stub.Solve(request, metadata=self._metadata, timeout=timeout_s)

    @staticmethod
    def as_dict(response: pb.SolveResponse) -> dict:
        return MessageToDict(response, preserving_proto_field_name=True)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "StudentGrpcClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
