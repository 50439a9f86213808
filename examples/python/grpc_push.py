#!/usr/bin/env python3
"""Push a WAV file to earshotd over gRPC and write its embeddings as .npy (the gRPC twin of `earshot push`).

    pip install -r requirements-grpc.txt
    python3 grpc_push.py --address 127.0.0.1:50051 --input speech.wav --output speech.npy
    python3 grpc_push.py --address earshot.example:50051 --tls-ca ca.pem [--tls-cert me.pem --tls-key me.key] \\
        [--token-file token] --input speech.wav --output speech.npy --stage encoder --events

The contract is proto/earshot/v1/earshot.proto; the stubs in earshot_grpc/ are generated from it. Tokens arrive in
order, none dropped; each carries `width` little-endian values in the payload asked for (f32 here, so the .npy is
bit for bit what `earshot encode` writes). Events (speech, ended) are printed as JSON lines with --events.
"""

import argparse
import json
import os
import sys
import wave

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from earshot_grpc import earshot_pb2, earshot_pb2_grpc  # noqa: E402

PAYLOADS = {"f32": (earshot_pb2.PAYLOAD_F32, "<f4"), "f16": (earshot_pb2.PAYLOAD_F16, "<f2"),
            "bf16": (earshot_pb2.PAYLOAD_BF16, None)}
OUTPUTS = {"embeddings": earshot_pb2.OUTPUT_EMBEDDINGS, "encoder": earshot_pb2.OUTPUT_ENCODER}
EVENT_NAMES = {v: k[len("EVENT_KIND_"):].lower() for k, v in earshot_pb2.EventKind.items()}
CHUNK_FRAMES = 16000


def read_wav(path):
    """(pcm bytes, PCMFormat, rate, channels) for 16- or 32-bit PCM WAV files (the standard library's wave)."""
    with wave.open(path, "rb") as w:
        width = w.getsampwidth()
        if width not in (2, 4):
            raise SystemExit(f"{path}: {8 * width}-bit WAV: use 16- or 32-bit PCM (or `earshot push --grpc`)")
        pcm_format = earshot_pb2.PCM_FORMAT_S16LE if width == 2 else earshot_pb2.PCM_FORMAT_S32LE
        return w.readframes(w.getnframes()), pcm_format, w.getframerate(), w.getnchannels(), width * w.getnchannels()


def decode_values(token):
    """A token's values as float32."""
    if token.payload == earshot_pb2.PAYLOAD_BF16:
        halves = np.frombuffer(token.values, dtype="<u2").astype(np.uint32) << 16
        return halves.view(np.float32)
    dtype = "<f4" if token.payload == earshot_pb2.PAYLOAD_F32 else "<f2"
    return np.frombuffer(token.values, dtype=dtype).astype(np.float32)


def requests(args, pcm, pcm_format, rate, channels, frame_bytes):
    """The request stream: start, then whole-frame chunks; returning half-closes the call (the end of the audio)."""
    yield earshot_pb2.PushRequest(start=earshot_pb2.PushStart(
        format=pcm_format, sample_rate=rate, channels=channels, payload=PAYLOADS[args.payload][0],
        output=OUTPUTS[args.stage], label=os.path.basename(args.input), speech_events=args.events))
    step = CHUNK_FRAMES * frame_bytes
    for offset in range(0, len(pcm), step):
        yield earshot_pb2.PushRequest(audio=pcm[offset:offset + step])


def channel(args):
    options = [("grpc.max_receive_message_length", 16 << 20)]
    if args.server_name:
        options.append(("grpc.ssl_target_name_override", args.server_name))
    if not (args.tls or args.tls_ca or args.tls_cert):
        return grpc.insecure_channel(args.address, options=options)

    def read(path):
        with open(path, "rb") as f:
            return f.read()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.tls_ca) if args.tls_ca else None,
        private_key=read(args.tls_key) if args.tls_key else None,
        certificate_chain=read(args.tls_cert) if args.tls_cert else None)
    return grpc.secure_channel(args.address, credentials, options=options)


def push(args):
    pcm, pcm_format, rate, channels, frame_bytes = read_wav(args.input)
    metadata = []
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            metadata.append(("authorization", "Bearer " + f.read().strip()))
    rows, width = [], 0
    with channel(args) as ch:
        stub = earshot_pb2_grpc.EarshotStub(ch)
        # grpcio sends the request iterator on its own thread while this loop reads: pushing and reading go on
        # together, as the daemon's backpressure requires.
        for response in stub.Push(requests(args, pcm, pcm_format, rate, channels, frame_bytes), metadata=metadata):
            kind = response.WhichOneof("response")
            if kind == "started":
                width = response.started.width
            elif kind == "token":
                token = response.token
                if token.index != len(rows):
                    raise SystemExit(f"token {token.index} arrived where {len(rows)} was due")
                rows.append(decode_values(token))
            elif kind == "event":
                event = response.event
                name = EVENT_NAMES.get(event.kind, str(event.kind))
                if args.events:
                    print(json.dumps({"event": name, "at": event.at, "count": event.count,
                                      "message": event.message}), flush=True)
    matrix = np.stack(rows) if rows else np.zeros((0, width), dtype=np.float32)
    np.save(args.output, matrix.astype(np.float32))
    print(f"{args.output}: {matrix.shape[0]} tokens x {matrix.shape[1] if rows else width}", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="the daemon's --grpc-address, HOST:PORT")
    parser.add_argument("--input", required=True, help="a 16- or 32-bit PCM WAV file, any rate and channel count")
    parser.add_argument("--output", required=True, help="where to write the .npy (tokens x width, float32)")
    parser.add_argument("--stage", choices=sorted(OUTPUTS), default="embeddings")
    parser.add_argument("--payload", choices=sorted(PAYLOADS), default="f32",
                        help="how values travel (f32: exact; f16/bf16: half the bytes, widened to float32 here)")
    parser.add_argument("--events", action="store_true", help="ask for speech events and print every event")
    parser.add_argument("--tls", action="store_true", help="TLS with the system's CAs")
    parser.add_argument("--tls-ca", help="trust this PEM CA for the daemon's certificate (implies TLS)")
    parser.add_argument("--tls-cert", help="mutual TLS: this client's PEM certificate")
    parser.add_argument("--tls-key", help="mutual TLS: this client's PEM private key")
    parser.add_argument("--server-name", help="the name the daemon's certificate carries, if not the address's host")
    parser.add_argument("--token-file", help="a file holding the daemon's bearer token")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    try:
        push(args)
    except grpc.RpcError as error:
        raise SystemExit(f"grpc_push: {error.code().name}: {error.details()}")


if __name__ == "__main__":
    main()
