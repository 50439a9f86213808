// Earshot's live view: an AudioWorklet that hands the microphone's samples to the page, which pushes them to
// earshotd over /v1/push/ws (live.js). Its output stays silent.
"use strict";

class EarshotCapture extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}

registerProcessor("earshot-capture", EarshotCapture);
