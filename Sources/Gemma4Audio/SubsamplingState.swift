import Frontend
import Kernels

/// One stream's carry before the Conformer layers: the log-mel framer's held samples and the SSCP's inputs that later
/// outputs still read (spec §3.1: layer-0 row r reads mel frames 2r−1 … 2r+1, token t reads layer-0 rows
/// 2t−1 … 2t+1), kept with absolute indices. Bounded by the geometry, not the stream length. A value: it changes
/// only through its `mutating` methods, on the stream that owns it.
struct SubsamplingState {
    private(set) var frontend = LogMelFrontend()
    private var melFrames: [Float] = []      // (·, 128)   frames from `melStart` on
    private var melStart = 0
    private var layer0Rows: [Float] = []     // (·, F0·C0) layer-0 rows from `layer0Start` on
    private var layer0Start = 0
    private var layer0Computed = 0           // layer-0 rows computed so far
    /// Tokens that have left the SSCP.
    private(set) var tokensSubsampled = 0

    /// Floats held: samples awaiting a frame, frames and layer-0 rows awaiting the SSCP.
    var heldFloatCount: Int { frontend.heldSampleCount + melFrames.count + layer0Rows.count }

    /// Frames `samples` (16 kHz mono) completes.
    mutating func accept(_ samples: UnsafeBufferPointer<Float>) {
        frontend.accept(samples, into: &melFrames)
    }

    /// Frames `samples` completes, and shows them to `newFrames`: the segment-relative sample where the first one's
    /// hop starts, and their values (`melBins` per frame), before the SSCP reads them.
    mutating func accept(_ samples: UnsafeBufferPointer<Float>,
                         newFrames: (_ firstHopSample: Int, _ values: UnsafeBufferPointer<Float>) -> Void) {
        let added = frontend.accept(samples, into: &melFrames)
        guard !added.isEmpty else { return }
        let count = added.count * frontend.configuration.melBins
        let hop = frontend.configuration.hopLength
        melFrames.withUnsafeBufferPointer { all in
            newFrames(added.lowerBound * hop, UnsafeBufferPointer(rebasing: all[(all.count - count)...]))
        }
    }

    mutating func reset() {
        frontend.reset()
        melFrames.removeAll(keepingCapacity: true); melStart = 0
        layer0Rows.removeAll(keepingCapacity: true); layer0Start = 0; layer0Computed = 0
        tokensSubsampled = 0
    }

    /// Runs both SSCP layers as far as the frames allow, appending new tokens' rows `(·, F1·C1)` to
    /// `pendingTokens`. With `final`, frames past the end are the reference's zeros, layer-0 rows past the last valid
    /// frame are masked, and the tail is computed.
    mutating func subsample(final: Bool, weights: SubsampleWeights, config c: Gemma4AudioConfiguration,
                            precision: ComputePrecision, patches: UnsafeMutablePointer<Float>,
                            into pendingTokens: inout [Float]) {
        let bins = c.melBins
        let width0 = c.sscpFrequencies[0] * c.subsamplingChannels[0]
        let width1 = c.sscpOutputWidth
        let frames = frontend.framesReleased
        // Layer-0 row r reads frames 2r−1 … 2r+1; it is kept (unmasked) iff frame 2r is valid.
        let rows0Kept = (frames + 1) / 2
        // Outside `final`, row r waits for frame 2r+1: frames/2 rows are complete.
        let layer0Goal = final ? rows0Kept : frames / 2
        if layer0Goal > layer0Computed {
            let base = layer0Rows.count
            layer0Rows.append(contentsOf: repeatElement(0, count: (layer0Goal - layer0Computed) * width0))
            melFrames.withUnsafeBufferPointer { mel in
                layer0Rows.withUnsafeMutableBufferPointer { out in
                    func frame(_ index: Int) -> UnsafePointer<Float>? {
                        guard index >= 0, index < frames else { return nil }
                        return mel.baseAddress! + (index - melStart) * bins
                    }
                    for r in layer0Computed..<layer0Goal {
                        SubsampleConvProjection.layer0(weights,
                                                       rows: (frame(2 * r - 1), frame(2 * r), frame(2 * r + 1)),
                                                       config: c,
                                                       into: out.baseAddress! + base + (r - layer0Computed) * width0)
                    }
                }
            }
            layer0Computed = layer0Goal
        }
        // Token t reads layer-0 rows 2t−1 … 2t+1; it is valid iff row 2t is kept.
        let tokensValid = (rows0Kept + 1) / 2
        let tokenGoal = final ? tokensValid : layer0Computed / 2
        if tokenGoal > tokensSubsampled {
            let base = pendingTokens.count
            pendingTokens.append(contentsOf: repeatElement(0, count: (tokenGoal - tokensSubsampled) * width1))
            layer0Rows.withUnsafeBufferPointer { rows in
                pendingTokens.withUnsafeMutableBufferPointer { out in
                    func row(_ index: Int) -> UnsafePointer<Float>? {
                        guard index >= 0, index < min(layer0Computed, rows0Kept) else { return nil }
                        return rows.baseAddress! + (index - layer0Start) * width0
                    }
                    for t in tokensSubsampled..<tokenGoal {
                        SubsampleConvProjection.layer1(weights,
                                                       rows: (row(2 * t - 1), row(2 * t), row(2 * t + 1)),
                                                       config: c, precision: precision,
                                                       patches: patches,
                                                       into: out.baseAddress! + base + (t - tokensSubsampled) * width1)
                    }
                }
            }
            tokensSubsampled = tokenGoal
        }
        // Drop what no future row reads: frames before 2·layer0Computed − 1, rows before 2·tokensSubsampled − 1.
        let keepFrame = max(0, 2 * layer0Computed - 1)
        if keepFrame > melStart {
            melFrames.removeFirst(min(keepFrame - melStart, melFrames.count / bins) * bins)
            melStart = keepFrame
        }
        let keepRow = max(0, 2 * tokensSubsampled - 1)
        if keepRow > layer0Start {
            layer0Rows.removeFirst(min(keepRow - layer0Start, layer0Rows.count / width0) * width0)
            layer0Start = keepRow
        }
    }
}
