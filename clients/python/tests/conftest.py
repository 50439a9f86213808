"""A live earshotd for the tests: the tiny model from Tests/Fixtures, a temporary socket, gRPC on a free port, and
the speech fixture as its live source "mic"."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "Tests" / "Fixtures"
MODEL = FIXTURES / "models" / "tiny-f32"


def binary(name: str) -> str:
    """earshotd or earshot from $EARSHOT_BIN (default: the checkout's debug build)."""
    path = Path(os.environ.get("EARSHOT_BIN", ROOT / ".build" / "debug")) / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: build first (swift build) or set EARSHOT_BIN")
    return str(path)


def wav(case: str) -> str:
    return str(FIXTURES / "cases" / case / "input.wav")


class Daemon(NamedTuple):
    socket: str
    grpc: str
    scratch: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(daemon: Daemon) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(daemon.socket)
        host, port = daemon.grpc.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    scratch = Path(tempfile.mkdtemp(prefix="earshot-pytest-"))
    d = Daemon(str(scratch / "d.sock"), f"127.0.0.1:{_free_port()}", scratch)
    log = open(scratch / "earshotd.log", "wb")
    # f32: the tests compare with the exact offline encoder.
    process = subprocess.Popen([binary("earshotd"), "--model", str(MODEL), "--source", f"mic=file:{wav('speech')}",
                                "--socket", d.socket, "--grpc-address", d.grpc, "--precision", "f32"],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not _answers(d):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"earshotd did not start: {(scratch / 'earshotd.log').read_text()}")
            time.sleep(0.05)
        yield d
    finally:
        process.terminate()
        try:
            assert process.wait(timeout=20) == 0, (scratch / "earshotd.log").read_text()
        finally:
            log.close()


@pytest.fixture(scope="session")
def encoded(daemon: Daemon) -> Iterator[dict]:
    """`earshot encode` of the test inputs: {(case, stage): path of its .npy}."""
    out = {}
    for case in ("speech", "stereo44k"):
        for stage in ("embeddings", "encoder"):
            path = daemon.scratch / f"{case}.{stage}.npy"
            subprocess.run([binary("earshot"), "encode", "--model", str(MODEL), "--input", wav(case), "--output",
                            str(path), "--stage", stage, "--precision", "f32"], check=True, capture_output=True)
            out[(case, stage)] = path
    yield out
