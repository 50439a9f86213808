#!/usr/bin/env python3
"""The live view in a real browser (scripts/check-live-view.sh runs this; issue #23).

Against a running earshotd (--http-address) whose live stream plays a file, with `earshot vad` and `earshot encode`
of the same file already written:
  1. the WebSocket feed's tokens (start=oldest, until `ended`) equal `earshot encode`'s float32 values bit for bit;
  2. headless Chromium, driven over its DevTools protocol, opens the page: the token count grows, the voice-activity
     timeline's speech spans equal `earshot vad`'s, and nothing is logged as an error;
  3. a screenshot of the page is saved.
Standard library only: a minimal WebSocket client (RFC 6455) serves both the feed and DevTools.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import wave
from pathlib import Path


class WebSocket:
    """A blocking RFC 6455 client: text and binary messages, masked frames out, ping answered, close noticed."""

    def __init__(self, url: str, timeout: float = 30):
        assert url.startswith("ws://"), url
        rest = url[len("ws://"):]
        authority, _, path = rest.partition("/")
        host, _, port = authority.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError(f"{url}: closed during the handshake: {head!r}")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(f"{url}: {status.decode(errors='replace')}")
        self.close_code: int | None = None

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the connection closed")
            data += chunk
        return data

    def send(self, payload: bytes | str, opcode: int | None = None) -> None:
        if isinstance(payload, str):
            payload, opcode = payload.encode(), opcode or 1
        opcode = opcode or 2
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def receive(self) -> str | bytes | None:
        """The next message; None once the server closed (its code in close_code)."""
        message, kind = b"", None
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 8:
                self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                return None
            if opcode == 9:
                self.send(payload, opcode=10)
                continue
            if opcode == 10:
                continue
            if opcode in (1, 2):
                kind = opcode
            message += payload
            if b0 & 0x80:
                return message.decode() if kind == 1 else message


def feed_tokens(http: str, stream: str) -> tuple[list[dict], bytes, list[dict], int | None]:
    """Every token of the stream from the oldest held, until `ended`: headers, values (float32 bytes), events."""
    ws = WebSocket(f"ws://{http}/v1/streams/{stream}/ws?start=oldest&speech=all")
    headers, values, events = [], bytearray(), []
    started = json.loads(ws.receive())
    assert "started" in started, started
    while (message := ws.receive()) is not None:
        if isinstance(message, bytes):
            assert len(message) == started["width"] * 4, (len(message), started)
            values += message
            continue
        parsed = json.loads(message)
        if "token" in parsed:
            headers.append(parsed)
        else:
            events.append(parsed)
    return headers, bytes(values), events, ws.close_code


def push_tokens(http: str, wav_path: str) -> tuple[list[dict], bytes, list[dict], int | None]:
    """Pushes a 16-bit WAV file over /v1/push/ws (a thread sends while this one reads), then `{"finish":true}`."""
    with wave.open(wav_path) as w:
        rate, channels, pcm = w.getframerate(), w.getnchannels(), w.readframes(w.getnframes())
    assert wave.open(wav_path).getsampwidth() == 2
    ws = WebSocket(f"ws://{http}/v1/push/ws?format=s16le&rate={rate}&channels={channels}&label=check")
    started = json.loads(ws.receive())
    assert "started" in started, started

    def feed() -> None:
        chunk = 3200 * channels    # 100 ms at 16 kHz
        for at in range(0, len(pcm), chunk):
            ws.send(pcm[at:at + chunk], opcode=2)
        ws.send(json.dumps({"finish": True}))

    sender = threading.Thread(target=feed)
    sender.start()
    headers, values, events = [], bytearray(), []
    while (message := ws.receive()) is not None:
        if isinstance(message, bytes):
            values += message
        elif "token" in (parsed := json.loads(message)):
            headers.append(parsed)
        else:
            events.append(parsed)
    sender.join()
    return headers, bytes(values), events, ws.close_code


class DevTools:
    """One page target of a headless Chromium, over the DevTools protocol."""

    def __init__(self, chromium: str, profile: Path, log: Path):
        self.process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--remote-debugging-port=0", f"--user-data-dir={profile}",
             # A fake microphone (a beep) that needs no permission prompt, for the page's push.
             "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
             "--window-size=1400,540", "about:blank"],
            stdout=open(log, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        port = port_file.read_text().splitlines()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = WebSocket(page["webSocketDebuggerUrl"], timeout=60)
        self.next_id = 0
        self.errors: list[str] = []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self._notice(message)

    def _notice(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            self.errors.append("console." + params["type"] + ": " + json.dumps(params["args"])[:500])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"][:500])

    def evaluate(self, expression: str, gesture: bool = False):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, userGesture=gesture)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", required=True, help="HOST:PORT of earshotd's --http-address")
    parser.add_argument("--stream", required=True)
    parser.add_argument("--encoded", required=True, help="earshot encode's .npy of the stream's file (f32)")
    parser.add_argument("--vad", required=True, help="earshot vad's events of the stream's file")
    parser.add_argument("--wav", required=True, help="the stream's file (16-bit WAV), pushed over /v1/push/ws")
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--chromium", default="chromium")
    arguments = parser.parse_args()

    def fail(text: str) -> int:
        print(f"check-live-view: FAIL: {text}", file=sys.stderr)
        return 1

    scratch = Path(tempfile.mkdtemp(prefix="earshot-live-view-"))
    browser = DevTools(arguments.chromium, scratch / "profile", scratch / "chromium.log")
    try:
        browser.call("Runtime.enable")
        browser.call("Log.enable")
        browser.call("Page.enable")
        browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=560, deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", url=f"http://{arguments.http}/")
        # The page follows the stream; meanwhile the feed is read here (from the oldest token to `ended`) and the
        # page's token count sampled as the stream plays.
        result: list = []
        reader = threading.Thread(target=lambda: result.append(feed_tokens(arguments.http, arguments.stream)))
        reader.start()
        deadline, counts, state, transports = time.monotonic() + 120, [], None, set()
        while time.monotonic() < deadline:
            status = json.load(urllib.request.urlopen(f"http://{arguments.http}/v1/status"))
            transports |= {c["transport"] for c in status["connections"]}
            state = browser.evaluate("JSON.stringify((window.earshotLive && window.earshotLive.streams["
                                     f"{json.dumps(arguments.stream)}]) || null)")
            state = json.loads(state) if state else None
            if state:
                counts.append(state["tokens"])
                if state["ended"]:
                    break
            time.sleep(0.25)
        else:
            return fail(f"the page's feed did not end: {state}")
        reader.join(timeout=60)
        if not result:
            return fail("the feed did not end")
        headers, values, events, close_code = result[0]

        # 1. Bit for bit: the .npy's float32 data against the feed's binary frames.
        npy = Path(arguments.encoded).read_bytes()
        header_length = struct.unpack("<H", npy[8:10])[0]
        npy_header = npy[10:10 + header_length].decode()
        assert "'<f4'" in npy_header and "'fortran_order': False" in npy_header, npy_header
        expected = npy[10 + header_length:]
        if [h["token"] for h in headers] != list(range(len(headers))):
            return fail(f"token indices are not 0…{len(headers) - 1}: {[h['token'] for h in headers][:10]}…")
        if values != expected:
            return fail(f"the feed's {len(values)} bytes ({len(headers)} tokens) differ from earshot encode's "
                        f"{len(expected)}")
        if close_code != 1000 or events[-1]["event"] != "ended":
            return fail(f"the feed ended with {events[-1:]} and close code {close_code}")
        print(f"check-live-view: feed: {len(headers)} tokens equal earshot encode bit for bit "
              f"({len(values)} bytes), then ended (1000)")
        pushed, pushed_values, pushed_events, push_close = push_tokens(arguments.http, arguments.wav)
        if pushed_values != expected or [h["token"] for h in pushed] != list(range(len(pushed))):
            return fail(f"the push's {len(pushed_values)} bytes ({len(pushed)} tokens) differ from earshot encode's "
                        f"{len(expected)}")
        if push_close != 1000 or pushed_events[-1]["event"] != "ended":
            return fail(f"the push ended with {pushed_events[-1:]} and close code {push_close}")
        print(f"check-live-view: push: {len(pushed)} tokens equal earshot encode bit for bit, then ended (1000)")

        # 2. The page: its count grew while the stream played, and it saw every token.
        if transports != {"websocket"}:
            return fail(f"status listed the feeds' connections as {transports}, not websocket")
        if state["tokens"] != len(headers):
            return fail(f"the page counted {state['tokens']} tokens, the feed {len(headers)}")
        if len(set(counts)) < 2:
            return fail(f"the page's token count did not grow while watched: {counts[:20]}")
        if state["melFrames"] <= 0:
            return fail("the page's spectrogram got no log-mel frames")

        want, open_start = [], None
        for line in Path(arguments.vad).read_text().splitlines():
            event = json.loads(line)
            if "start" in event:
                open_start = event["start"]
            else:
                want.append([open_start, event["end"]])
                open_start = None
        spans = state["speech"]
        if spans != want:
            return fail(f"the page's speech spans {spans} differ from earshot vad's {want}")
        print(f"check-live-view: page: {state['tokens']} tokens (counts seen {counts[0]} … {counts[-1]}), "
              f"{state['melFrames']} mel frames, speech spans equal earshot vad's: {spans}")

        # 3. No errors, then the screenshot.
        browser.evaluate("1")     # collect any notices still queued
        if browser.errors or state_errors(browser):
            return fail(f"errors in the page: {browser.errors + state_errors(browser)}")
        shot = browser.call("Page.captureScreenshot", format="png")
        Path(arguments.screenshot).write_bytes(base64.b64decode(shot["data"]))
        print(f"check-live-view: no console errors; screenshot {arguments.screenshot}")

        # 4. The page pushes the browser's (fake) microphone: tokens come back, and end when it stops.
        browser.evaluate("document.getElementById('microphone').click()", gesture=True)
        mic = wait_for(browser, "microphone 1", lambda s: s["tokens"] >= 50)
        if not mic:
            return fail(f"the microphone push gave no tokens: {browser.errors + state_errors(browser)}")
        browser.evaluate("document.getElementById('microphone').click()", gesture=True)
        mic = wait_for(browser, "microphone 1", lambda s: s["ended"])
        if not mic or browser.errors or state_errors(browser):
            return fail(f"the microphone push did not end cleanly: {mic}, {browser.errors + state_errors(browser)}")
        if [mic["firstToken"], mic["lastToken"]] != [0, mic["tokens"] - 1]:
            return fail(f"the microphone push's tokens are not 0…{mic['tokens'] - 1}: {mic}")
        print(f"check-live-view: the page pushed the microphone: {mic['tokens']} tokens, then ended; no errors")
        return 0
    finally:
        browser.close()


def wait_for(browser: DevTools, stream: str, done, seconds: float = 30):
    """The page's state of `stream` once `done(state)`, or None after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = browser.evaluate(f"JSON.stringify(window.earshotLive.streams[{json.dumps(stream)}] || null)")
        state = json.loads(state) if state else None
        if state and done(state):
            return state
        time.sleep(0.25)
    return None


def state_errors(browser: DevTools) -> list:
    return browser.evaluate("window.earshotLive.errors") or []


if __name__ == "__main__":
    sys.exit(main())
