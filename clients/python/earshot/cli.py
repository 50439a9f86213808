"""`earshot-client`: push, listen and status against earshotd, over its Unix socket or gRPC.

Options and JSON lines use the words of the Swift `earshot` command (`earshot push`, `earshot listen`,
`earshot status`): docs/protocol.md, "Vocabulary".
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, List, Optional

if TYPE_CHECKING:
    import numpy as np

from . import connect
from .types import PAYLOADS, SPEECH, STAGES, STARTS, EarshotError, Token, event_json, token_json
from .wire import SocketClient


def _connection_options(parser: argparse.ArgumentParser, default: object) -> None:
    """The connection options, accepted before or after the command (`--socket S push …` or `push --socket S …`)."""
    parser.add_argument("--socket", default=default,
                        help="the daemon's socket (default: $EARSHOT_SOCKET, $XDG_RUNTIME_DIR/earshot/earshot.sock, "
                             "/run/earshot/earshot.sock)")
    parser.add_argument("--grpc", metavar="HOST:PORT", default=default,
                        help="use gRPC at this address instead of the socket (earshotd --grpc-address)")
    parser.add_argument("--tls", action="store_true", default=default,
                        help="gRPC: TLS, trusting the system's CAs (implied by --tls-ca, --tls-cert, --tls-key)")
    parser.add_argument("--tls-ca", metavar="FILE", default=default, help="gRPC TLS: trust this PEM CA")
    parser.add_argument("--tls-cert", metavar="FILE", default=default, help="gRPC mutual TLS: this client's certificate")
    parser.add_argument("--tls-key", metavar="FILE", default=default, help="gRPC mutual TLS: this client's key")
    parser.add_argument("--server-name", metavar="NAME", default=default,
                        help="gRPC TLS: the name the daemon's certificate carries, if not the address's host")
    parser.add_argument("--token-file", metavar="FILE", default=default, help="gRPC: a file holding the bearer token")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="earshot-client", description=__doc__.splitlines()[0])
    _connection_options(parser, None)
    shared = argparse.ArgumentParser(add_help=False)
    _connection_options(shared, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)

    push = commands.add_parser("push", parents=[shared], help="encode a WAV file through the daemon")
    push.add_argument("--input", required=True, help="a 16- or 32-bit PCM WAV file, any rate and channel count")
    push.add_argument("--output", help="write the tokens as .npy (float32, tokens × width)")
    push.add_argument("--stage", choices=STAGES, default="embeddings",
                      help="what to write: embeddings (D wide) or encoder (P wide)")
    push.add_argument("--payload", choices=PAYLOADS, default="f32",
                      help="wire format (f32 is exact; f16/bf16 are widened to float32)")
    push.add_argument("--events", metavar="FILE",
                      help="also write the stream's speech events here, as JSON lines in the format of earshot vad")

    listen = commands.add_parser("listen", parents=[shared],
                                 help="print each token and event of a live stream as a JSON line "
                                      "(the keys of earshot listen --format jsonl)")
    listen.add_argument("--stream", default="mic", help="the live stream to follow")
    listen.add_argument("--start", choices=STARTS,
                        help="start with the next token (now, the default) or the oldest the daemon holds (oldest)")
    listen.add_argument("--from", dest="deprecated_from", choices=STARTS, help=argparse.SUPPRESS)   # old --start
    listen.add_argument("--stage", choices=STAGES, default="embeddings")
    listen.add_argument("--payload", choices=PAYLOADS, default="f32")
    listen.add_argument("--count", type=int, default=0, help="stop after this many tokens (0: until the stream ends)")
    listen.add_argument("--speech", choices=SPEECH, default="all",
                        help="all: every token and the speech events; only: speech tokens and the events; "
                             "off: every token, no events")
    listen.add_argument("--output", help="collect the tokens into this .npy file instead of printing them")

    commands.add_parser("status", parents=[shared], help="print the daemon's status as JSON")
    return parser


def _client(args: argparse.Namespace):
    if args.grpc:
        token = None
        if args.token_file:
            with open(args.token_file, encoding="utf-8") as f:
                token = f.read().strip()
        return connect("grpc://" + args.grpc, tls=bool(args.tls), tls_ca=args.tls_ca, tls_cert=args.tls_cert,
                       tls_key=args.tls_key, bearer_token=token, server_name=args.server_name)
    if args.tls or args.tls_ca or args.tls_cert or args.tls_key or args.token_file or args.server_name:
        raise EarshotError("--tls, --tls-ca, --tls-cert, --tls-key, --server-name and --token-file need --grpc")
    return connect(args.socket)


def _push(args: argparse.Namespace) -> None:
    import numpy as np
    with _client(args) as client:
        result = client.push(args.input, stage=args.stage, payload=args.payload, speech_events=bool(args.events))
    if args.output:
        np.save(args.output, result.embeddings)
    if args.events:
        with open(args.events, "w", encoding="utf-8") as f:
            f.write("".join(json.dumps(event) + "\n" for event in result.speech_events))
    print(f"earshot-client: {len(result.tokens)} tokens × {result.width}"
          + (f" → {args.output}" if args.output else ""), file=sys.stderr)


def _start(args: argparse.Namespace) -> str:
    """--start, or --from (its old name) with a notice."""
    if args.deprecated_from is None:
        return args.start or "now"
    if args.start is not None:
        raise EarshotError("--from is the old name of --start: give only --start")
    print("earshot-client listen: --from is deprecated; use --start", file=sys.stderr)
    return args.deprecated_from


def _listen(args: argparse.Namespace) -> None:
    import numpy as np
    rows: List["np.ndarray"] = []
    tokens = 0
    start = _start(args)
    with _client(args) as client:
        if isinstance(client, SocketClient):
            print(f"# {client.server['server']} model={client.server['model']} stream={args.stream}",
                  file=sys.stderr)
        for message in client.subscribe(args.stream, start=start, stage=args.stage, payload=args.payload,
                                        speech=args.speech):
            if isinstance(message, Token):
                tokens += 1
                if args.output:
                    rows.append(message.values)
                else:
                    print(json.dumps(token_json(message)), flush=True)
                if args.count and tokens >= args.count:
                    break
            elif not args.output:
                print(json.dumps(event_json(message)), flush=True)
    if args.output:
        np.save(args.output, np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32))


def _status(args: argparse.Namespace) -> None:
    with _client(args) as client:
        print(json.dumps(client.status(), indent=2, sort_keys=True))


def main(argv: Optional[List[str]] = None) -> None:
    args = _parser().parse_args(argv)
    commands = {"push": _push, "listen": _listen, "status": _status}
    try:
        commands[args.command](args)
    except (EarshotError, OSError) as error:
        raise SystemExit(f"earshot-client: {error}")
    except KeyboardInterrupt:
        raise SystemExit(130)
