"""Server interceptors that replace a method's behaviour (the token check, the call metrics)
must hand gRPC a handler of the same call shape; this is the one place that maps shapes."""

from __future__ import annotations

from collections.abc import Callable

import grpc

# (request_streaming, response_streaming) -> the gRPC ecosystem's name and handler factory.
_SHAPES: dict[tuple[bool, bool], tuple[str, Callable[..., grpc.RpcMethodHandler]]] = {
    (False, False): ("unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("server_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("client_stream", grpc.stream_unary_rpc_method_handler),
    (True, True): ("bidi_stream", grpc.stream_stream_rpc_method_handler),
}


def rpc_type(handler: grpc.RpcMethodHandler) -> str:
    """``unary``, ``server_stream``, ``client_stream`` or ``bidi_stream``."""
    return _SHAPES[(handler.request_streaming, handler.response_streaming)][0]


def behavior_of(handler: grpc.RpcMethodHandler) -> Callable:
    """The servicer function behind ``handler``, whatever its shape."""
    return handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream


def with_behavior(handler: grpc.RpcMethodHandler, behavior: Callable) -> grpc.RpcMethodHandler:
    """A handler of ``handler``'s shape and (de)serializers that runs ``behavior`` instead."""
    factory = _SHAPES[(handler.request_streaming, handler.response_streaming)][1]
    return factory(behavior, request_deserializer=handler.request_deserializer,
                   response_serializer=handler.response_serializer)
