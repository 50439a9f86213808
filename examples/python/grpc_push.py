#!/usr/bin/env python3
"""Push a WAV file to earshotd over gRPC and write its embeddings as .npy, with the earshot package's API.

    pip install './clients/python[grpc]'
    python3 grpc_push.py --grpc 127.0.0.1:50051 --input speech.wav --output speech.npy
    python3 grpc_push.py --grpc earshot.example:50051 --tls-ca ca.pem [--tls-cert me.pem --tls-key me.key] \\
        [--token-file token] --input speech.wav --output speech.npy --stage encoder --events speech.jsonl

Tokens arrive in order, none dropped; with the f32 payload the .npy is bit for bit what `earshot encode` writes.
Every event of the stream (speech, ended) is printed as a JSON line, spelled as `earshot listen` prints them
(docs/protocol.md, "Vocabulary"). The options are those of `earshot push --grpc`: --events FILE asks for speech
events and writes them as `earshot vad` does. --address, the old name of --grpc, and --events without a FILE (it
used to only ask for the events) still work, with a notice. The same, from the command line:
`earshot-client --grpc HOST:PORT push --input speech.wav --output speech.npy`.
"""

import argparse
import json
import os
import sys

import numpy as np

try:
    import earshot
except ImportError:   # not installed: the copy in this checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
    import earshot
from earshot.types import event_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grpc", metavar="HOST:PORT", help="the daemon's --grpc-address (required)")
    parser.add_argument("--address", help=argparse.SUPPRESS)   # the old name of --grpc
    parser.add_argument("--input", required=True, help="a 16- or 32-bit PCM WAV file, any rate and channel count")
    parser.add_argument("--output", required=True, help="where to write the .npy (tokens x width, float32)")
    parser.add_argument("--stage", choices=["embeddings", "encoder"], default="embeddings")
    parser.add_argument("--payload", choices=["f32", "f16", "bf16"], default="f32")
    parser.add_argument("--events", metavar="FILE", nargs="?", const="",
                        help="also write the stream's speech events here, as JSON lines in the format of earshot vad")
    parser.add_argument("--tls", action="store_true", help="TLS with the system's CAs")
    parser.add_argument("--tls-ca", help="trust this PEM CA for the daemon's certificate (implies TLS)")
    parser.add_argument("--tls-cert", help="mutual TLS: this client's PEM certificate")
    parser.add_argument("--tls-key", help="mutual TLS: this client's PEM private key")
    parser.add_argument("--server-name", help="the name the daemon's certificate carries, if not the address's host")
    parser.add_argument("--token-file", help="a file holding the daemon's bearer token")
    args = parser.parse_args()
    if args.address is not None:
        if args.grpc is not None:
            parser.error("--address is the old name of --grpc: give only --grpc")
        print("grpc_push: --address is deprecated; use --grpc", file=sys.stderr)
        args.grpc = args.address
    if args.grpc is None:
        parser.error("the following arguments are required: --grpc")
    if args.events == "":
        print("grpc_push: --events without a FILE is deprecated: every event is printed; --events FILE also writes "
              "the speech events", file=sys.stderr)
    token = open(args.token_file, encoding="utf-8").read().strip() if args.token_file else None
    try:
        with earshot.connect("grpc://" + args.grpc, tls=args.tls, tls_ca=args.tls_ca, tls_cert=args.tls_cert,
                             tls_key=args.tls_key, bearer_token=token, server_name=args.server_name) as client:
            result = client.push(args.input, stage=args.stage, payload=args.payload,
                                 speech_events=args.events is not None)
    except earshot.EarshotError as error:
        raise SystemExit(f"grpc_push: {error}")
    for event in result.events:
        print(json.dumps(event_json(event)))
    if args.events:
        with open(args.events, "w", encoding="utf-8") as f:
            f.write("".join(json.dumps(event) + "\n" for event in result.speech_events))
    np.save(args.output, result.embeddings)
    print(f"{args.output}: {len(result.tokens)} tokens x {result.width}", file=sys.stderr)


if __name__ == "__main__":
    main()
