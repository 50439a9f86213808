/// A streaming mono sample-rate converter: libsamplerate underneath, absolute positions on top.
///
/// One owner, one thread at a time (it holds a C handle and scratch memory; it is deliberately not `Sendable`).
/// Callers downmix first (``Downmix/toMono(_:channels:into:)``): one channel in, one channel out.
///
/// ## Timeline and delay
/// Output frame `k` (counted from `init` or the last ``reset()``) is the signal at input time
/// `k × inputRate / outputRate` input frames. libsamplerate's sinc converters start from a zero history and centre
/// output 0 on input 0, so the filter adds **no offset** to positions, only **latency**: each output needs input
/// beyond the point it is computed at, so outputs trail the input. ``pendingOutputFrames`` says how many are owed
/// for the input given so far, and ``finish(into:)`` flushes exactly those (feeding zeros past the end of input).
/// After `finish`, ``outputFramesProduced`` is exactly `floor(inputFramesConsumed × outputRate / inputRate)`.
///
/// Worked example, 48 kHz → 16 kHz, `best`: after 480 input frames (10 ms) 160 outputs are owed but 17 have come
/// out (143 pending); after 960 frames, 177 of 320; the pending count stays at 143 (8.9 ms at 16 kHz) for the rest
/// of the stream (`medium`: 46, `fastest`: 19). Output `k` is always the signal at input frame `3k`, so a chunk
/// whose first output frame is `k` begins at `k / 16000` seconds after the first input frame, however the input
/// was chunked.
///
/// `linear` and `zeroOrderHold` lag by one input frame (output `k` is the input at `k × inputRate / outputRate − 1`,
/// output 0 is input 0), and may have emitted one frame beyond that count before `finish`.
///
/// ## Chunking
/// The output does not depend on how the input is split into ``process(_:into:)`` calls: it is bit-identical for
/// any split. libsamplerate keeps its read position as a fraction of one input frame and computes each output from
/// the same samples in the same order; the one exception, its linear converter's handling of single-frame calls,
/// is avoided by holding back a lone trailing frame until the next call. `ResamplingTests` checks every quality.
///
/// Equal input and output rates pass samples through untouched; libsamplerate is not involved.
public final class Resampler {
    /// Input frames per second.
    public let inputRate: Int
    /// Output frames per second.
    public let outputRate: Int
    /// The converter in use (ignored when ``isPassthrough``).
    public let quality: ResamplerQuality
    /// Output rate / input rate, as given to libsamplerate.
    public let ratio: Double
    /// Input frames accepted since `init` or the last ``reset()``.
    public private(set) var inputFramesConsumed: Int64 = 0
    /// Output frames appended since `init` or the last ``reset()``.
    public private(set) var outputFramesProduced: Int64 = 0
    /// True after ``finish(into:)`` until ``reset()``.
    public private(set) var isFinished = false

    /// nil when the rates are equal.
    private let converter: SampleRateConverter?
    /// Where libsamplerate writes before we append to the caller's array; (scratchFrames,) mono.
    private let scratch: UnsafeMutableBufferPointer<Float>
    private static let scratchFrames = 4096
    /// Two frames of staging, (2,) mono: joins a held frame with the next input, and serves as the valid input
    /// pointer of the zero-frame end-of-input call (libsamplerate rejects input that overlaps `scratch`).
    private let pair: UnsafeMutablePointer<Float>
    /// A lone trailing input frame kept back for the next call. libsamplerate's linear converter mishandles
    /// single-frame calls (it skips the interpolation step between the previous call and that frame), so the
    /// wrapper makes none except the final flush.
    private var heldFrame: Float?

    /// Makes a resampler from `inputRate` to `outputRate` frames per second.
    /// Throws if a rate is not positive or the ratio is outside libsamplerate's range (1/256 to 256).
    public init(inputRate: Int, outputRate: Int, quality: ResamplerQuality = .best) throws {
        let ratio = Double(outputRate) / Double(max(inputRate, 1))
        guard inputRate > 0, outputRate > 0, SampleRateConverter.isValidRatio(ratio) else {
            throw ResamplingError.invalidRates(input: inputRate, output: outputRate)
        }
        self.inputRate = inputRate
        self.outputRate = outputRate
        self.quality = quality
        self.ratio = ratio
        pair = .allocate(capacity: 2)
        pair.initialize(repeating: 0, count: 2)
        if inputRate == outputRate {
            converter = nil
            scratch = UnsafeMutableBufferPointer(start: nil, count: 0)
        } else {
            converter = try SampleRateConverter(converterType: quality.converterType)
            scratch = .allocate(capacity: Self.scratchFrames)
            scratch.initialize(repeating: 0)
        }
    }

    deinit {
        scratch.deallocate()
        pair.deallocate()
    }

    /// True when the rates are equal and samples pass through untouched.
    public var isPassthrough: Bool { converter == nil }

    /// Output frames owed for the input consumed so far: how many ``finish(into:)`` would append now.
    /// Zero when passing through.
    public var pendingOutputFrames: Int64 {
        max(0, outputFrames(forInputFrames: inputFramesConsumed) - outputFramesProduced)
    }

    /// The output frames a finished stream of `inputFrames` input frames yields:
    /// `floor(inputFrames × outputRate / inputRate)`, in exact integer arithmetic.
    public func outputFrames(forInputFrames inputFrames: Int64) -> Int64 {
        inputFrames * Int64(outputRate) / Int64(inputRate)
    }

    /// Where input frame `inputFrame` (counted like ``inputFramesConsumed``) falls on the output timeline,
    /// in output frames (not rounded).
    public func outputPosition(ofInputFrame inputFrame: Int64) -> Double {
        Double(inputFrame) * Double(outputRate) / Double(inputRate)
    }

    /// Where output frame `outputFrame` falls on the input timeline, in input frames (not rounded).
    public func inputPosition(ofOutputFrame outputFrame: Int64) -> Double {
        Double(outputFrame) * Double(inputRate) / Double(outputRate)
    }

    /// Converts `input` (mono) and appends every output frame ready so far to `output`.
    /// Throws after ``finish(into:)`` until ``reset()``, or if libsamplerate reports an error.
    public func process(_ input: UnsafeBufferPointer<Float>, into output: inout [Float]) throws {
        guard !isFinished else { throw ResamplingError.finished(during: "Resampler.process") }
        guard let base = input.baseAddress, input.count > 0 else { return }
        inputFramesConsumed += Int64(input.count)
        guard let converter else {
            output.append(contentsOf: input)
            outputFramesProduced += Int64(input.count)
            return
        }
        var rest = UnsafeBufferPointer(start: base, count: input.count)
        if let held = heldFrame {
            // Join the held frame with the first new one so that no call carries a single frame.
            heldFrame = nil
            pair[0] = held
            pair[1] = rest[0]
            try convert(UnsafeBufferPointer(start: pair, count: 2), converter, endOfInput: false, into: &output)
            rest = UnsafeBufferPointer(rebasing: rest.dropFirst())
        }
        if rest.count == 1 {
            heldFrame = rest[0]
        } else if rest.count > 1 {
            try convert(rest, converter, endOfInput: false, into: &output)
        }
    }

    /// Convenience for arrays; see ``process(_:into:)-(UnsafeBufferPointer<Float>,_)``.
    public func process(_ input: [Float], into output: inout [Float]) throws {
        try input.withUnsafeBufferPointer { try process($0, into: &output) }
    }

    /// Flushes the filter and appends the remaining ``pendingOutputFrames`` to `output`, so that
    /// ``outputFramesProduced`` becomes exactly `floor(inputFramesConsumed × outputRate / inputRate)`.
    /// Afterwards ``process(_:into:)`` throws until ``reset()``. Calling it twice appends nothing the second time.
    ///
    /// libsamplerate's own flush (`end_of_input`) pads with zeros but decides where to stop in floating point, and
    /// at ratios such as 16000/44100 it drops the last frame when the exact count is a whole number. So the
    /// wrapper feeds a few zero frames itself (the same zeros the flush would use, so the same values come out),
    /// flushes, and keeps exactly the owed frames.
    public func finish(into output: inout [Float]) throws {
        guard !isFinished else { return }
        isFinished = true
        guard let converter else { return }
        let target = outputFrames(forInputFrames: inputFramesConsumed)
        let firstAppended = output.count
        let producedBefore = outputFramesProduced
        // Zero frames covering one output period and then some, joined with any held frame.
        let padding = (inputRate + outputRate - 1) / outputRate + 2
        var zeros = [Float](repeating: 0, count: padding + 1)
        var zeroCount = padding
        if let held = heldFrame {
            heldFrame = nil
            zeros[0] = held
            zeroCount += 1
        }
        try zeros.withUnsafeBufferPointer {
            try convert(UnsafeBufferPointer(rebasing: $0[0..<zeroCount]), converter, endOfInput: false, into: &output)
        }
        while true {
            // Zero input frames, but a valid pointer: the sinc converters skip the flush when `data_in` is NULL.
            let (_, generated) = try converter.process(
                pair, frames: 0, into: scratch.baseAddress!, capacity: scratch.count, ratio: ratio, endOfInput: true)
            append(generated, to: &output)
            if generated == 0 { break }
        }
        // Drop what the padding produced beyond the owed frames (never frames appended before this call).
        let excess = Int(min(outputFramesProduced - target, outputFramesProduced - producedBefore))
        if excess > 0 {
            output.removeLast(min(excess, output.count - firstAppended))
            outputFramesProduced -= Int64(excess)
        }
    }

    /// Forgets all input: clears the filter history and restarts the counters at zero.
    public func reset() throws {
        try converter?.reset()
        heldFrame = nil
        inputFramesConsumed = 0
        outputFramesProduced = 0
        isFinished = false
    }

    /// Resamples a whole mono signal in one go (process, then finish).
    public static func resample(
        _ mono: [Float], from inputRate: Int, to outputRate: Int, quality: ResamplerQuality = .best
    ) throws -> [Float] {
        let resampler = try Resampler(inputRate: inputRate, outputRate: outputRate, quality: quality)
        if resampler.isPassthrough { return mono }
        var output: [Float] = []
        output.reserveCapacity(Int(resampler.outputFrames(forInputFrames: Int64(mono.count))) + 2)
        try resampler.process(mono, into: &output)
        try resampler.finish(into: &output)
        return output
    }

    /// Runs `src_process` until `input` is used up and the converter has nothing more to give for it.
    private func convert(
        _ input: UnsafeBufferPointer<Float>, _ converter: SampleRateConverter, endOfInput: Bool,
        into output: inout [Float]
    ) throws {
        var offset = 0
        while true {
            let (used, generated) = try converter.process(
                input.baseAddress! + offset, frames: input.count - offset,
                into: scratch.baseAddress!, capacity: scratch.count, ratio: ratio, endOfInput: endOfInput)
            offset += used
            append(generated, to: &output)
            // Done when all input is in and the converter stopped short of filling the scratch buffer.
            if offset >= input.count && generated < scratch.count { break }
            if used == 0 && generated == 0 { break }   // no progress possible (cannot happen with valid data)
        }
    }

    private func append(_ frames: Int, to output: inout [Float]) {
        guard frames > 0 else { return }
        output.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<frames]))
        outputFramesProduced += Int64(frames)
    }
}
