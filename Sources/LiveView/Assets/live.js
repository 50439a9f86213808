// Earshot's live view: polls /v1/status, and per live stream follows /v1/streams/NAME/ws (tokens and events) and
// /v1/streams/NAME/mel/ws (log-mel frames). Hand-written, no dependencies. docs/protocol.md, "WebSocket".
"use strict";

const token = new URLSearchParams(location.search).get("token");
const wsBase = (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
const SAMPLE_RATE = 16000, PX_PER_SECOND = 100, WIDTH = 1000;   // 10 s across, 1 px per 10 ms mel frame
const COMPONENTS = 32, SWATCH = 16, LATENCY_ROWS = 10;

// What the page saw, for people and for scripts/check-live-view.sh.
const live = { streams: {}, errors: [] };
window.earshotLive = live;

function withToken(url) {
  return token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
}

// A seeded generator (mulberry32) for the fixed random projection: the same colours for the same embedding, always.
function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6D2B79F5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const projections = new Map();   // width → 3 rows of Gaussian weights
function projection(width) {
  if (!projections.has(width)) {
    const next = mulberry32(23), rows = [];
    for (let r = 0; r < 3; r++) {
      const row = new Float32Array(width);
      for (let i = 0; i < width; i++) {   // Box–Muller
        row[i] = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
      }
      rows.push(row);
    }
    projections.set(width, rows);
  }
  return projections.get(width);
}

function diverging(x) {   // −1 … 1 → blue, black, red
  const v = Math.max(-1, Math.min(1, x));
  return v < 0 ? [Math.round(40 - 40 * v), Math.round(90 * -v), Math.round(255 * -v)]
               : [Math.round(255 * v), Math.round(90 * v), Math.round(40 * (1 - v))];
}

function inferno(t) {   // 0 … 1 → a dark-to-bright ramp
  const v = Math.max(0, Math.min(1, t));
  return [Math.round(255 * Math.min(1, 1.6 * v)), Math.round(255 * Math.max(0, v * v * 1.1 - 0.05)),
          Math.round(255 * Math.max(0, Math.sin(Math.PI * v) * 0.55 + (v > 0.85 ? (v - 0.85) * 4 : 0)))];
}

function element(tag, attributes = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

// A canvas whose right edge is the newest audio: it scrolls left as the head advances; items are painted where
// their audio lies, so tokens (which come a latency later than their mel frames) land under their audio.
class Strip {
  constructor(height, samplesPerPixel, className) {
    this.canvas = element("canvas", { width: WIDTH, height, class: className });
    this.context = this.canvas.getContext("2d");
    this.context.fillStyle = "#000";
    this.context.fillRect(0, 0, WIDTH, height);
    this.samplesPerPixel = samplesPerPixel;
    this.head = null;   // the sample at the right edge
  }
  scrollTo(head) {
    if (this.head === null) { this.head = head; return; }
    const dx = Math.floor(head / this.samplesPerPixel) - Math.floor(this.head / this.samplesPerPixel);
    if (dx <= 0) return;
    this.head = head;
    const c = this.context, h = this.canvas.height;
    if (dx < WIDTH) c.drawImage(this.canvas, dx, 0, WIDTH - dx, h, 0, 0, WIDTH - dx, h);
    c.fillStyle = "#000";
    c.fillRect(Math.max(0, WIDTH - dx), 0, Math.min(dx, WIDTH), h);
  }
  x(sample) { return WIDTH - 1 - (Math.floor(this.head / this.samplesPerPixel) - Math.floor(sample / this.samplesPerPixel)); }
}

class StreamView {
  constructor(name, { spectrogram = true } = {}) {
    this.name = name;
    this.state = live.streams[name] = { tokens: 0, firstToken: null, lastToken: null, width: 0, melFrames: 0,
                                        speech: [], events: [], lagged: 0, ended: false };
    this.mel = new Strip(128, SAMPLE_RATE / PX_PER_SECOND, "spectrogram");
    this.tokens = new Strip(SWATCH + LATENCY_ROWS + 2 * COMPONENTS, 640 / 4, "tokens");
    this.vad = new Strip(18, SAMPLE_RATE / PX_PER_SECOND, "vad");
    this.facts = element("div", { class: "facts" }, ["connecting…"]);
    this.melRange = { low: Infinity, high: -Infinity };   // the values seen so far span the colours
    this.section = element("section", { class: "stream", "data-stream": name }, [
      element("h2", {}, [name, element("small", { class: "source" })]),
      ...(spectrogram ? [element("div", { class: "row" }, [element("label", {}, ["spectrogram"]), this.mel.canvas])] : []),
      element("div", { class: "row" }, [element("label", {}, ["tokens · latency"]), this.tokens.canvas]),
      element("div", { class: "row" }, [element("label", {}, ["voice activity"]), this.vad.canvas]),
      element("div", { class: "row" }, [element("label", {}, []), this.facts]),
    ]);
    this.pending = null;
  }

  advance(sample) {
    for (const strip of [this.mel, this.tokens, this.vad]) strip.scrollTo(sample);
    this.drawSpeech();
  }

  open(voiceActivity) {
    if (this.socket || this.state.ended) return;
    const query = "?start=oldest" + (voiceActivity ? "&speech=all" : "");
    this.attach(new WebSocket(withToken(`${wsBase}/v1/streams/${encodeURIComponent(this.name)}/ws${query}`)));
    const mel = this.melSocket = new WebSocket(withToken(`${wsBase}/v1/streams/${encodeURIComponent(this.name)}/mel/ws`));
    mel.binaryType = "arraybuffer";
    mel.onmessage = (m) => this.onMel(m.data);
    mel.onclose = () => { this.melSocket = null; };
  }

  // Follows a token feed, or a push's tokens.
  attach(ws) {
    this.socket = ws;
    ws.binaryType = "arraybuffer";
    ws.onmessage = (m) => this.onFeed(m.data);
    ws.onclose = (e) => {
      this.socket = null;
      if (e.code === 1000 || this.state.ended) { this.state.ended = true; this.facts.textContent += " · ended"; }
    };
  }

  onFeed(data) {
    if (typeof data !== "string") {
      if (this.pending) this.drawToken(this.pending, new Float32Array(data));
      this.pending = null;
      return;
    }
    const message = JSON.parse(data);
    if ("token" in message) { this.pending = message; return; }
    if ("started" in message) {
      this.state.width = message.width;
      this.state.samplesPerToken = message.samplesPerToken;
      return;
    }
    if ("error" in message) { this.facts.textContent = `refused: ${message.message}`; return; }
    if ("event" in message) this.onEvent(message);
  }

  onEvent(event) {
    this.state.events.push(event);
    const speech = this.state.speech;
    if (event.event === "speechStart") speech.push([event.at, null]);
    else if (event.event === "speechEnd" && speech.length && speech[speech.length - 1][1] === null) {
      speech[speech.length - 1][1] = event.at;
    } else if (event.event === "lagged") this.state.lagged += event.count;
    else if (event.event === "ended") this.state.ended = true;
    this.drawSpeech();
  }

  drawToken(header, values) {
    const s = this.state;
    s.tokens += 1;
    if (s.firstToken === null) s.firstToken = header.token;
    s.lastToken = header.token;
    s.lastLatencyMs = header.latencyMs;
    const span = s.samplesPerToken || 640;   // Gemma 4: 640 samples (4 px); Echo: 160 (1 px)
    this.advance(header.firstSample + span);
    const strip = this.tokens, c = strip.context, x = strip.x(header.firstSample), w = Math.max(1, span / 160);
    if (x + w < 0) return;
    const norm = header.norm || 1, rows = projection(values.length);
    const rgb = rows.map((row) => {
      let dot = 0;
      for (let i = 0; i < values.length; i++) dot += row[i] * values[i];
      return Math.round(127.5 + 127.5 * Math.tanh(dot / norm));
    });
    c.fillStyle = `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;
    c.fillRect(x, 0, w, SWATCH);
    const bar = Math.min(LATENCY_ROWS, Math.round(LATENCY_ROWS * Math.max(0, header.latencyMs) / 1000));
    c.fillStyle = "#333";
    c.fillRect(x, SWATCH, w, LATENCY_ROWS);
    c.fillStyle = header.latencyMs > 1000 ? "#e0603a" : "#c9c9c9";
    c.fillRect(x, SWATCH + LATENCY_ROWS - bar, w, bar);
    const scale = Math.sqrt(values.length) / norm;
    for (let i = 0; i < COMPONENTS && i < values.length; i++) {
      const [r, g, b] = diverging(values[i] * scale / 2);
      c.fillStyle = `rgb(${r},${g},${b})`;
      c.fillRect(x, SWATCH + LATENCY_ROWS + 2 * i, w, 2);
    }
    const speaking = header.flags.includes("speech") ? " · speech" : "";
    this.facts.textContent = `${s.tokens} tokens · token ${header.token} at ${header.time.toFixed(2)} s · ` +
      `latency ${header.latencyMs.toFixed(0)} ms · norm ${header.norm}${speaking}` +
      (s.lagged ? ` · ${s.lagged} lagged` : "");
  }

  onMel(data) {
    if (typeof data === "string") {
      const message = JSON.parse(data);
      if ("mel" in message) this.melHeader = message;
      else if ("event" in message && message.event === "lagged") this.state.melLagged = (this.state.melLagged || 0) + message.count;
      return;
    }
    const header = this.melHeader, values = new Float32Array(data), bins = header ? header.bins : 0, rows = 128;
    if (!header) return;
    this.melHeader = null;
    const frames = values.length / bins;
    this.state.melFrames += frames;
    this.advance(header.mel + 160 * frames);
    // The strip is 128 rows; a model with other mel bins (a small Echo) is stretched or squeezed onto them.
    const strip = this.mel, c = strip.context, image = c.createImageData(frames, rows);
    for (let f = 0; f < frames; f++) {
      for (let b = 0; b < rows; b++) {
        const v = values[f * bins + Math.floor(b * bins / rows)];
        if (v > this.melRange.high) this.melRange.high = v;
        if (v < this.melRange.low) this.melRange.low = v;
        const [r, g, bl] = inferno((v - this.melRange.low) / Math.max(1e-3, this.melRange.high - this.melRange.low));
        const o = ((rows - 1 - b) * frames + f) * 4;   // low frequencies at the bottom
        image.data[o] = r; image.data[o + 1] = g; image.data[o + 2] = bl; image.data[o + 3] = 255;
      }
    }
    c.putImageData(image, strip.x(header.mel), 0);
  }

  drawSpeech() {
    const strip = this.vad, c = strip.context;
    if (strip.head === null) return;
    c.fillStyle = "#000";
    c.fillRect(0, 0, WIDTH, 18);
    c.fillStyle = "#3fbf6f";
    for (const [start, end] of this.state.speech) {
      const x0 = Math.max(0, strip.x(start)), x1 = Math.min(WIDTH, strip.x(end === null ? strip.head : end));
      if (x1 > x0) c.fillRect(x0, 2, x1 - x0, 14);
    }
  }
}

const views = new Map();
let lastStatus = null;

// The browser's microphone, pushed to the daemon (/v1/push/ws, f32le at the audio context's rate, 100 ms a
// message): its tokens and voice activity show in a panel of their own. Browsers allow the microphone on
// http://localhost and 127.0.0.1, or over https.
const microphone = { active: null, count: 0 };

async function startMicrophone() {
  const media = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  const context = new AudioContext();
  await context.audioWorklet.addModule("capture.js");
  const node = new AudioWorkletNode(context, "earshot-capture", { channelCount: 1, channelCountMode: "explicit" });
  const speech = lastStatus && lastStatus.voiceActivity.on ? "&speech=all" : "";
  const socket = new WebSocket(withToken(
    `${wsBase}/v1/push/ws?format=f32le&rate=${context.sampleRate}&channels=1&label=microphone${speech}`));
  const view = new StreamView(`microphone ${++microphone.count}`, { spectrogram: false });
  view.section.querySelector(".source").textContent = `this browser's microphone, ${context.sampleRate} Hz, pushed`;
  document.getElementById("streams").prepend(view.section);
  view.attach(socket);
  let pieces = [], length = 0;
  node.port.onmessage = ({ data }) => {
    pieces.push(data);
    length += data.length;
    if (length < context.sampleRate / 10 || socket.readyState !== WebSocket.OPEN) return;
    const chunk = new Float32Array(length);
    let at = 0;
    for (const piece of pieces) { chunk.set(piece, at); at += piece.length; }
    socket.send(chunk.buffer);
    pieces = [];
    length = 0;
  };
  context.createMediaStreamSource(media).connect(node);
  node.connect(context.destination);   // silent; keeps the graph pulling the worklet
  microphone.active = { media, context, socket };
}

function stopMicrophone() {
  const { media, context, socket } = microphone.active;
  microphone.active = null;
  for (const track of media.getTracks()) track.stop();
  context.close();
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ finish: true }));
}

function setUpMicrophone() {
  const button = document.getElementById("microphone");
  if (!navigator.mediaDevices || !window.AudioWorkletNode) return;   // not a secure context, or no Web Audio
  button.hidden = false;
  button.onclick = async () => {
    button.disabled = true;
    try {
      if (microphone.active) stopMicrophone(); else await startMicrophone();
    } catch (error) {
      live.errors.push(`microphone: ${error}`);
      show("server", `cannot push the microphone: ${error.message}`);
    }
    button.classList.toggle("on", microphone.active !== null);
    button.textContent = microphone.active ? "Stop the microphone" : "Push my microphone";
    button.disabled = false;
  };
}

// Pushed streams are private to their client: the page shows their progress from the status, not their tokens.
function showPushes(pushes) {
  const section = document.getElementById("pushes");
  section.hidden = pushes.length === 0;
  const body = section.querySelector("tbody");
  body.replaceChildren(...pushes.map((p) => element("tr", {}, [
    element("td", {}, [p.name]),
    element("td", {}, [`${(p.samples / p.inputRate).toFixed(1)} s`]),
    element("td", {}, [`${p.inputRate} Hz`]),
    element("td", {}, [`${p.tokens}`]),
    element("td", {}, [`${p.speechSeconds.toFixed(1)} s`]),
    element("td", {}, [`${p.backlogSeconds.toFixed(2)} s`]),
  ])));
}

function show(id, text) { document.getElementById(id).textContent = text; }

async function poll() {
  try {
    const response = await fetch("/v1/status", { headers: token ? { Authorization: "Bearer " + token } : {} });
    if (!response.ok) throw new Error(`/v1/status: ${response.status} ${await response.text()}`);
    const status = lastStatus = await response.json();
    show("server", `${status.server} · ${status.model.id}`);
    show("utilization", `${(100 * status.compute.utilization).toFixed(0)} %`);
    show("rtf", status.compute.realTimeFactor.toFixed(3));
    show("clients", `${status.clients} / ${status.maxClients}`);
    show("latency", status.latency.tokens ? `${status.latency.p50Ms.toFixed(0)} ms` : "–");
    show("lagged", `${status.totals.laggedFrames}`);
    const streams = status.streams.filter((s) => s.kind === "live");
    const empty = document.getElementById("empty");
    if (empty) empty.textContent = streams.length ? "" : "No live stream (pushes show in the counts above).";
    for (const s of streams) {
      if (!views.has(s.name)) {
        const view = new StreamView(s.name);
        views.set(s.name, view);
        document.getElementById("streams").append(view.section);
      }
      const view = views.get(s.name);
      view.section.querySelector(".source").textContent = `${s.source} · ${s.state} · ${s.subscribers} subscribers`;
      if (s.state !== "ended") view.open(status.voiceActivity.on);
    }
    showPushes(status.streams.filter((s) => s.kind === "pushed"));
  } catch (error) {
    live.errors.push(String(error));
    show("server", `cannot read the status: ${error.message}`);
  }
  setTimeout(poll, 1000);
}

setUpMicrophone();
poll();
