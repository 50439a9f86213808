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
from conftest import FIXTURES, MODEL, Daemon, binary, wav

TRANSPORTS = ["unix", "grpc"]

#: The keys of a token's and an event's JSON line, in order (docs/protocol.md, "Vocabulary"): `earshot listen
#: --format jsonl` and `earshot-client listen` print the same. EarshotDaemonTests checks the Swift side against the
#: same list (ListenVocabulary).
TOKEN_KEYS = ["token", "firstSample", "time", "latencyMs", "norm", "flags", "values"]
EVENT_KEYS = ["event", "at", "count", "message"]


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
    listen = subprocess.run(["earshot-client", "listen", "--socket", daemon.socket, "--start", "oldest"], check=True,
                            capture_output=True, text=True).stdout.splitlines()
    assert sum(line.startswith('{"token"') for line in listen) == len(np.load(encoded[("speech", "embeddings")]))
    assert json.loads(listen[-1])["event"] == "ended"
    failed = subprocess.run(["earshot-client", "--socket", str(tmp_path / "none.sock"), "status"],
                            capture_output=True, text=True)
    assert failed.returncode == 1 and "none.sock" in failed.stderr


def test_listen_lines_are_spelled_as_earshot_listen_prints_them(daemon):
    """The same tokens and end, through `earshot listen --format jsonl` and `earshot-client listen`: the same keys in
    the same order, the same values (the payload is f32: the very floats the daemon sent)."""
    swift = subprocess.run([binary("earshot"), "listen", "--socket", daemon.socket, "--start", "oldest", "--format",
                            "jsonl"], check=True, capture_output=True, text=True).stdout.splitlines()
    python = subprocess.run(["earshot-client", "listen", "--socket", daemon.socket, "--start", "oldest"], check=True,
                            capture_output=True, text=True).stdout.splitlines()
    swift_lines, python_lines = [json.loads(line) for line in swift], [json.loads(line) for line in python]
    assert len(swift_lines) == len(python_lines) > 1
    for ours, theirs in zip(python_lines, swift_lines):
        keys = EVENT_KEYS if "event" in theirs else TOKEN_KEYS
        assert list(theirs) == keys and list(ours) == keys
        if "event" in theirs:
            assert ours == theirs
            continue
        for key in ("token", "firstSample", "time", "flags"):
            assert ours[key] == theirs[key], key
        assert np.array_equal(np.float32(ours["values"]), np.float32(theirs["values"]))
        assert ours["norm"] == pytest.approx(theirs["norm"], rel=1e-4)   # both to 5 significant digits
        assert isinstance(ours["latencyMs"], float) and isinstance(theirs["latencyMs"], float)
    assert python_lines[-1] == {"event": "ended", "at": 0, "count": len(python_lines) - 1,
                                "message": "stream 'mic' has ended"}


def test_speech_event_lines_have_the_shared_keys():
    """Speech events go through the same spelling as every event (the daemon test with a live VAD stream checks
    `earshot listen`'s speech lines against the same list)."""
    from earshot.types import event_json
    start = event_json(earshot.Event("mic", "speechStart", 4640, 0, ""))
    assert list(start) == EVENT_KEYS
    assert json.dumps(start) == '{"event": "speechStart", "at": 4640, "count": 0, "message": ""}'


def test_the_old_start_option_still_works_with_a_notice(daemon):
    old = subprocess.run(["earshot-client", "listen", "--socket", daemon.socket, "--from", "oldest", "--count", "2"],
                         check=True, capture_output=True, text=True)
    assert old.stderr.count("earshot-client listen: --from is deprecated; use --start\n") == 1
    assert [json.loads(line)["token"] for line in old.stdout.splitlines()] == [0, 1]
    both = subprocess.run(["earshot-client", "listen", "--socket", daemon.socket, "--from", "oldest", "--start",
                           "now"], capture_output=True, text=True)
    assert both.returncode == 1 and "give only --start" in both.stderr
    assert "--from" not in subprocess.run(["earshot-client", "listen", "--help"], check=True, capture_output=True,
                                          text=True).stdout


def test_old_keyword_names_still_work_with_a_warning(daemon, tmp_path):
    # ca= reaches tls_ca: a socket target refuses TLS by its current name's rule.
    with pytest.warns(DeprecationWarning, match=r"connect\(\): ca= is deprecated; use tls_ca="):
        with pytest.raises(earshot.EarshotError, match="grpc://"):
            earshot.connect(daemon.socket, ca=str(tmp_path / "ca.pem"))
    # cert= without key= is tls_cert without tls_key.
    with pytest.warns(DeprecationWarning, match="cert= is deprecated; use tls_cert="):
        with pytest.raises(earshot.EarshotError, match="tls_cert and tls_key"):
            earshot.connect(f"grpc://{daemon.grpc}", cert=str(tmp_path / "me.pem"))
    # token= is the bearer token: a daemon without one ignores it, and the call goes through.
    with pytest.warns(DeprecationWarning, match="token= is deprecated; use bearer_token="):
        client = earshot.connect(f"grpc://{daemon.grpc}", token="secret")
    with client:
        assert client.status()["streams"]
    with pytest.raises(TypeError, match="give only tls_ca="):
        earshot.connect(f"grpc://{daemon.grpc}", ca="a.pem", tls_ca="b.pem")
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        earshot.connect(daemon.socket, colour="blue")


def test_the_grpc_example_still_takes_its_old_address_option(daemon, encoded, tmp_path):
    """examples/python/grpc_push.py: --grpc and --events FILE as `earshot push` spells them; --address, the old name
    of --grpc, and --events without a FILE (it used to only ask for events), each with a notice."""
    example = str(FIXTURES.parents[1] / "examples" / "python" / "grpc_push.py")
    out = tmp_path / "example.npy"
    old = subprocess.run([sys.executable, example, "--address", daemon.grpc, "--input", wav("speech"), "--output",
                          str(out), "--events"], check=True, capture_output=True, text=True)
    assert old.stderr.startswith("grpc_push: --address is deprecated; use --grpc\n"
                                 "grpc_push: --events without a FILE is deprecated")
    assert out.read_bytes() == encoded[("speech", "embeddings")].read_bytes()
    assert [json.loads(line)["event"] for line in old.stdout.splitlines()][-1] == "ended"
    both = subprocess.run([sys.executable, example, "--address", daemon.grpc, "--grpc", daemon.grpc, "--input",
                           wav("speech"), "--output", str(out)], capture_output=True, text=True)
    assert both.returncode == 2 and "give only --grpc" in both.stderr
