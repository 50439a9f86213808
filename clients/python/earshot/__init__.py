"""Python client for earshotd: Gemma 4 audio embeddings over its Unix socket or gRPC.

    import earshot

    with earshot.connect("unix:/run/earshot/earshot.sock") as client:      # or "grpc://host:50051"
        result = client.push("speech.wav")                                  # every token and event
        numpy.save("speech.npy", result.embeddings)                         # what `earshot encode` writes
        for message in client.subscribe("mic", start="oldest", speech="all"):
            print(message)                                                  # earshot.Token or earshot.Event
        print(client.status()["streams"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from .audio import PCM, read_wav
from .types import EarshotError, Event, Message, PushResult, Token
from .wire import SocketClient, default_socket_path

if TYPE_CHECKING:
    from .grpc_client import GRPCClient

__all__ = ["connect", "SocketClient", "GRPCClient", "PCM", "read_wav", "EarshotError", "Event", "Message",
           "PushResult", "Token", "default_socket_path"]
__version__ = "0.3.0"


def connect(target: Optional[str] = None, *, tls: bool = False, ca: Optional[str] = None, cert: Optional[str] = None,
            key: Optional[str] = None, token: Optional[str] = None, server_name: Optional[str] = None,
            client_name: str = "earshot-client") -> Union[SocketClient, "GRPCClient"]:
    """A client for ``target``: ``unix:PATH`` or a plain path (the Unix socket), ``grpc://HOST:PORT`` (gRPC, with
    ``tls``, ``ca``, ``cert``/``key`` and ``token`` as for ``earshot push --grpc``), or None for the daemon's usual
    socket ($EARSHOT_SOCKET, $XDG_RUNTIME_DIR/earshot/earshot.sock, /run/earshot/earshot.sock). Both clients have
    ``push``, ``subscribe``, ``status`` and ``close`` and are context managers."""
    if target is not None and target.startswith("grpc://"):
        from .grpc_client import GRPCClient
        return GRPCClient(target[len("grpc://"):], tls=tls, ca=ca, cert=cert, key=key, token=token,
                          server_name=server_name)
    if tls or ca or cert or key or token:
        raise EarshotError("TLS and tokens are gRPC options: use a grpc://HOST:PORT target")
    path = target[len("unix:"):] if target is not None and target.startswith("unix:") else target
    return SocketClient(path, client_name=client_name)


def __getattr__(name: str):
    if name == "GRPCClient":   # imported on first use: gRPC is an optional extra
        from .grpc_client import GRPCClient
        return GRPCClient
    raise AttributeError(name)
