import Gemma4Audio

/// Gemma 4 behind ``ServedModel``: streaming and causal, so a token leaves as soon as its block of `blockTokens` is
/// complete, and every stream's block is stacked into the same GEMMs of one pass.
extension Gemma4AudioModel: ServedModel {
    package var facts: ServedModelFacts {
        let c = configuration
        return ServedModelFacts(family: "gemma4", embeddingWidth: c.textHiddenSize, encoderWidth: c.outputProjectionSize,
                                layerCount: c.layerCount, samplesPerToken: Gemma4AudioConfiguration.samplesPerToken,
                                melBins: c.melBins)
    }

    package func passTokens(configured blockTokens: Int) -> Int { blockTokens }

    package func makeWorkspace(blockTokens: Int, streams: Int, threads: Int) -> any PassWorkspace {
        Gemma4Workspace(scratch: EncoderScratch(model: self, capacity: blockTokens * streams,
                                                threads: precision == .f32 ? threads : 1))
    }

    package func makeStreamEncoder(blockTokens: Int) -> any StreamEncoder {
        EncoderStream(model: self, blockTokens: blockTokens)
    }

    package func encodePass(_ encoders: [any StreamEncoder], workspace: any PassWorkspace) -> Int {
        let workspace = workspace as! Gemma4Workspace
        // The workspace's list, filled and emptied with its capacity kept: a pass allocates nothing for it.
        defer { workspace.streams.removeAll(keepingCapacity: true) }
        for encoder in encoders { workspace.streams.append(encoder as! EncoderStream) }
        return encodePass(workspace.streams, scratch: workspace.scratch)
    }
}

/// A compute thread's Gemma 4 work space: its `EncoderScratch`, and the list a pass hands `encodePass`.
final class Gemma4Workspace: PassWorkspace {
    let scratch: EncoderScratch
    var streams: [EncoderStream] = []   // (≤ streams per pass,)

    init(scratch: EncoderScratch) {
        self.scratch = scratch
    }
}

extension EncoderStream: StreamEncoder {
    package var tokensInAudio: Int { tokensSubsampled }

    /// Gemma 4's frames are shown as its frontend computes them, in `accept`.
    package func showPassMelFrames(_ melFrames: (_ firstHopSample: Int, _ values: UnsafeBufferPointer<Float>) -> Void) {}
}
