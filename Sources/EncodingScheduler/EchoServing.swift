import EchoAudio
import Gemma4Audio

/// Echo behind ``ServedModel``. Echo is not causal: a window's rows depend on all of its ctx frames, so a stream's
/// tokens (one per 160-sample frame) leave a window at a time, once the window's last sample has arrived — the live
/// latency is one window, 15 s at the seed's ctx 1500 — and at the end of a stream (or of a segment, after a gap too
/// long to fill) the partial last window is encoded zero-padded, as `earshot encode` does. Every row of a window is
/// emitted, the padded window's too (rows past the audio describe the padding, and are flagged `silence`).
extension EchoModel: ServedModel {
    package var facts: ServedModelFacts {
        let c = configuration
        return ServedModelFacts(family: "echo", embeddingWidth: c.width, encoderWidth: c.width,
                                layerCount: c.layerCount, samplesPerToken: c.frontend.hopLength, melBins: c.melBins)
    }

    package func passTokens(configured blockTokens: Int) -> Int { configuration.context }

    package func makeWorkspace(blockTokens: Int, streams: Int, threads: Int) -> any PassWorkspace {
        EchoWorkspace(scratch: EchoScratch(model: self, threads: threads))
    }

    package func makeStreamEncoder(blockTokens: Int) -> any StreamEncoder {
        EchoStreamEncoder(window: EchoWindowStream(model: self))
    }

    /// One window of each stream that has one ready, one after another (a window is a whole pass's worth of rows).
    package func encodePass(_ encoders: [any StreamEncoder], workspace: any PassWorkspace) -> Int {
        let scratch = (workspace as! EchoWorkspace).scratch
        var encoded = 0
        for case let encoder as EchoStreamEncoder in encoders where encoder.hasReadyBlock {
            encoded += encoder.encodeNextWindow(scratch: scratch)
        }
        return encoded
    }
}

/// A compute thread's Echo work space.
final class EchoWorkspace: PassWorkspace {
    let scratch: EchoScratch

    init(scratch: EchoScratch) {
        self.scratch = scratch
    }
}

/// A stream's Echo windows as a ``StreamEncoder``: the window stream, and the rows encoded and not yet taken.
final class EchoStreamEncoder: StreamEncoder {
    private let window: EchoWindowStream
    private var output: EncodedTokens
    /// The log-mel of the windows encoded since `showPassMelFrames` last ran: where the first one starts
    /// (stream-relative sample) and their frames, `(windows·ctx, mels)`. Empty when the input is the waveform alone.
    private var windowMel: (firstSample: Int, frames: [Float]) = (0, [])

    init(window: EchoWindowStream) {
        self.window = window
        output = Self.emptyOutput(firstToken: 0, width: window.model.configuration.width)
    }

    private var context: Int { window.model.configuration.context }
    private var windowSamples: Int { window.model.configuration.frontend.windowSamples }

    func accept(_ samples: UnsafeBufferPointer<Float>) { window.accept(samples) }

    func accept(_ samples: UnsafeBufferPointer<Float>,
                melFrames: (_ firstHopSample: Int, _ values: UnsafeBufferPointer<Float>) -> Void) {
        window.accept(samples)
    }

    func finish() { window.finish() }

    func reset() {
        window.reset()
        output = Self.emptyOutput(firstToken: 0, width: output.encoderWidth)
        windowMel = (0, [])
    }

    func showPassMelFrames(_ melFrames: (_ firstHopSample: Int, _ values: UnsafeBufferPointer<Float>) -> Void) {
        guard !windowMel.frames.isEmpty else { return }
        windowMel.frames.withUnsafeBufferPointer { melFrames(windowMel.firstSample, $0) }
        windowMel.frames.removeAll(keepingCapacity: true)
    }

    var isFinished: Bool { window.isFinished }
    /// Samples awaiting their window, the last pass's log-mel, and rows not yet taken (one set for both outputs).
    var heldFloatCount: Int { window.pendingSampleCount + windowMel.frames.count + output.encoder.count }
    var hasReadyBlock: Bool { window.readyWindowCount > 0 }
    var tokensEncoded: Int { window.windowsEncoded * context }

    /// Whole windows' rows: the partial window counts only once finished (then padded to a whole one).
    var tokensInAudio: Int {
        let windows = window.samplesReceived / windowSamples
            + (window.isFinished && window.samplesReceived % windowSamples > 0 ? 1 : 0)
        return windows * context
    }

    func takeOutput() -> EncodedTokens {
        let taken = output
        output = Self.emptyOutput(firstToken: tokensEncoded, width: taken.encoderWidth)
        return taken
    }

    /// Encodes the next ready window into the output (and keeps its log-mel for the spectrogram); returns its row
    /// count.
    func encodeNextWindow(scratch: EchoScratch) -> Int {
        let (rows, width) = (context, output.encoderWidth)
        let firstSample = window.windowsEncoded * windowSamples
        let values = [Float](unsafeUninitializedCapacity: rows * width) { buffer, initialized in
            window.encodeNextWindow(scratch: scratch, into: buffer.baseAddress!)
            initialized = rows * width
        }
        if window.inputs != .waveform {
            if windowMel.frames.isEmpty { windowMel.firstSample = firstSample }
            windowMel.frames += window.model.lastLogMel(scratch)
        }
        // One set of rows serves both outputs (Echo has no projection): assigned, the arrays share their storage.
        if output.count == 0 {
            output.encoder = values
            output.embeddings = values
        } else {
            output.encoder += values
            output.embeddings += values
        }
        output.count += rows
        return rows
    }

    private static func emptyOutput(firstToken: Int, width: Int) -> EncodedTokens {
        EncodedTokens(firstToken: firstToken, encoderWidth: width, embeddingWidth: width)
    }
}
