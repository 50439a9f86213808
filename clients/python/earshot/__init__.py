"""Python client for earshotd: Gemma 4 audio embeddings over its Unix socket or gRPC.

    import earshot

    with earshot.connect("unix:/run/earshot/earshot.sock") as client:      # or "grpc://host:50051", tls_ca=…
        result = client.push("speech.wav")                                  # every token and event
        numpy.save("speech.npy", result.embeddings)                         # what `earshot encode` writes
        for message in client.subscribe("mic", start="oldest", speech="all"):
            print(message)                                                  # earshot.Token or earshot.Event
        print(client.status()["streams"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from .audio import PCM, read_wav
from .types import RENAMED_TLS_KWARGS, EarshotError, Event, Message, PushResult, Token, renamed_kwargs
from .wire import SocketClient, default_socket_path

if TYPE_CHECKING:
    from .grpc_client import GRPCClient

__all__ = ["connect", "SocketClient", "GRPCClient", "PCM", "read_wav", "EarshotError", "Event", "Message",
           "PushResult", "Token", "default_socket_path"]
__version__ = "0.3.0"


def connect(target: Optional[str] = None, *, tls: bool = False, tls_ca: Optional[str] = None,
            tls_cert: Optional[str] = None, tls_key: Optional[str] = None, bearer_token: Optional[str] = None,
            server_name: Optional[str] = None, client_name: str = "earshot-client",
            **deprecated: Optional[str]) -> Union[SocketClient, "GRPCClient"]:
    """A client for ``target``: ``unix:PATH`` or a plain path (the Unix socket), ``grpc://HOST:PORT`` (gRPC, with
    ``tls``, ``tls_ca``, ``tls_cert``/``tls_key``, ``server_name`` and ``bearer_token`` as ``earshot push --grpc``
    takes them), or None for the daemon's usual socket ($EARSHOT_SOCKET, $XDG_RUNTIME_DIR/earshot/earshot.sock,
    /run/earshot/earshot.sock). Both clients have ``push``, ``subscribe``, ``status`` and ``close`` and are context
    managers. The old names ``ca``, ``cert``, ``key`` and ``token`` still work, with a DeprecationWarning."""
    if deprecated:
        given = renamed_kwargs("connect", RENAMED_TLS_KWARGS, deprecated,
                               {"tls_ca": tls_ca, "tls_cert": tls_cert, "tls_key": tls_key,
                                "bearer_token": bearer_token})
        tls_ca, tls_cert, tls_key, bearer_token = (given["tls_ca"], given["tls_cert"], given["tls_key"],
                                                   given["bearer_token"])
    if target is not None and target.startswith("grpc://"):
        from .grpc_client import GRPCClient
        return GRPCClient(target[len("grpc://"):], tls=tls, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key,
                          bearer_token=bearer_token, server_name=server_name)
    if tls or tls_ca or tls_cert or tls_key or bearer_token:
        raise EarshotError("TLS and tokens are gRPC options: use a grpc://HOST:PORT target")
    path = target[len("unix:"):] if target is not None and target.startswith("unix:") else target
    return SocketClient(path, client_name=client_name)


def __getattr__(name: str):
    if name == "GRPCClient":   # imported on first use: gRPC is an optional extra
        from .grpc_client import GRPCClient
        return GRPCClient
    raise AttributeError(name)
