"""The package against a live earshotd, over both transports: pushes write the bytes `earshot encode` writes, a
subscription to a file source is the offline encoding, status answers, and errors name their cause."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import wave

import numpy as np
import pytest

import earshot
from conftest import FIXTURES, MODEL, Daemon, wav

TRANSPORTS = ["unix", "grpc"]


def target(daemon: Daemon, transport: str) -> str:
    return f"unix:{daemon.socket}" if transport == "unix" else f"grpc://{daemon.grpc}"


def npy_bytes(matrix: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, matrix)
    return buffer.getvalue()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case,stage", [("speech", "embeddings"), ("stereo44k", "embeddings"), ("speech", "encoder")])
def test_push_writes_the_bytes_of_encode(daemon, encoded, transport, case, stage):
    with earshot.connect(target(daemon, transport)) as client:
        result = client.push(wav(case), stage=stage)
    assert npy_bytes(result.embeddings) == encoded[(case, stage)].read_bytes()
    assert [t.index for t in result.tokens] == list(range(len(result.tokens)))
    assert [t.first_sample for t in result.tokens] == [640 * i for i in range(len(result.tokens))]
    assert result.events[-1].kind == "ended"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_push_raw_pcm_and_half_payloads(daemon, encoded, transport):
    with wave.open(wav("speech"), "rb") as w:
        pcm = earshot.PCM(w.readframes(w.getnframes()), "s16le", w.getframerate(), w.getnchannels())
    want = np.load(encoded[("speech", "embeddings")])
    with earshot.connect(target(daemon, transport)) as client:
        exact = client.push(pcm).embeddings
        half = client.push(pcm, payload="f16").embeddings
        brain = client.push(pcm, payload="bf16").embeddings
    assert np.array_equal(exact, want)
    # f16/bf16 round each value to nearest: the relative error is at most half an ulp (2^-11, 2^-8), or f16's
    # smallest subnormal step near zero.
    assert np.all(np.abs(half - want) <= np.maximum(np.abs(want) * 2.0 ** -11, 2.0 ** -25))
    assert np.all(np.abs(brain - want) <= np.abs(want) * 2.0 ** -8)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_subscribe_to_a_file_source_is_the_offline_encoding(daemon, encoded, transport):
    want = np.load(encoded[("speech", "embeddings")])
    with earshot.connect(target(daemon, transport)) as client:
        messages = list(client.subscribe("mic", start="oldest"))
    tokens = [m for m in messages if isinstance(m, earshot.Token)]
    assert [t.index for t in tokens] == list(range(len(want)))
    # The streamed tokens equal the offline encoder's (docs/streaming.md), to the tolerance the daemon tests use.
    assert np.max(np.abs(np.stack([t.values for t in tokens]) - want)) <= 1e-5
    assert messages[-1].kind == "ended"
    assert all(t.stream == "mic" for t in tokens)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_status(daemon, transport):
    with earshot.connect(target(daemon, transport)) as client:
        status = client.status()
    assert "mic" in [s["name"] for s in status["streams"]]


def test_socket_welcome(daemon):
    with earshot.connect(daemon.socket) as client:
        assert client.server["D"] == json.loads((MODEL / "config.json").read_text())["text_config"]["hidden_size"]
        assert client.server["sample_rate"] == 16000 and client.server["samples_per_token"] == 640
        assert client.ping() >= 0


@pytest.mark.parametrize("transport,code", [("unix", "unknown-stream"), ("grpc", "NOT_FOUND")])
def test_an_unknown_stream_is_refused_by_name(daemon, transport, code):
    with earshot.connect(target(daemon, transport)) as client:
        with pytest.raises(earshot.EarshotError) as error:
            list(client.subscribe("no-such-stream"))
    assert error.value.code == code
    assert "no-such-stream" in str(error.value)


def test_errors_name_their_cause(daemon, tmp_path):
    with pytest.raises(earshot.EarshotError, match="nobody.sock"):
        earshot.connect(str(tmp_path / "nobody.sock"))
    with pytest.raises(earshot.EarshotError, match="grpc://"):
        earshot.connect(daemon.socket, tls=True)
    eight_bit = tmp_path / "eight.wav"
    with wave.open(str(eight_bit), "wb") as w:
        w.setnchannels(1), w.setsampwidth(1), w.setframerate(16000), w.writeframes(b"\x80" * 1600)
    with earshot.connect(daemon.socket) as client:
        with pytest.raises(earshot.EarshotError, match="eight.wav: 8-bit"):
            client.push(eight_bit)
        with pytest.raises(earshot.EarshotError, match="payload must be one of"):
            client.push(wav("speech"), payload="f64")
        with pytest.raises(earshot.EarshotError, match="whole number of 4-byte frames"):
            client.push(earshot.PCM(b"\0" * 6, "s16le", 16000, 2))
        assert client.status()["streams"]   # the connection is still good after refusals


def test_the_command_line(daemon, encoded, tmp_path):
    out, events = tmp_path / "cli.npy", tmp_path / "ev.jsonl"
    # Speech events as silero-vad's VADIterator gives them on a clip with pauses (Tests/Fixtures/vad).
    pauses = FIXTURES / "vad" / "pauses"
    for connection in (["--socket", daemon.socket], ["--grpc", daemon.grpc]):
        subprocess.run(["earshot-client", *connection, "push", "--input", wav("speech"), "--output", str(out)],
                       check=True, capture_output=True)
        assert out.read_bytes() == encoded[("speech", "embeddings")].read_bytes()
        subprocess.run(["earshot-client", *connection, "push", "--input", str(pauses / "input.wav"),
                        "--events", str(events)], check=True, capture_output=True)
        assert events.read_text() == (pauses / "events.jsonl").read_text()
    listen = subprocess.run(["earshot-client", "listen", "--socket", daemon.socket, "--from", "oldest"], check=True,
                            capture_output=True, text=True).stdout.splitlines()
    assert sum(line.startswith('{"token"') for line in listen) == len(np.load(encoded[("speech", "embeddings")]))
    assert json.loads(listen[-1])["event"] == "ended"
    failed = subprocess.run(["earshot-client", "--socket", str(tmp_path / "none.sock"), "status"],
                            capture_output=True, text=True)
    assert failed.returncode == 1 and "none.sock" in failed.stderr
