import ArgumentParser
import AudioCore
import EchoAudio
import Foundation
import Gemma4Audio

/// `earshot encode` for an Echo model: the file read a piece at a time into an `EchoWindowStream`, each window of
/// ctx frames (`ctx · 160` samples) encoded whole as it completes, the last partial window zero-padded to a whole
/// one (as WhisperFeatureExtractor pads), so the result is `[windows · ctx, dims]`.
enum EchoEncoding {
    /// Why a setting does not apply to Echo, or nil when it does.
    static func refusal(stream: Bool, precision: PrecisionSetting) -> String? {
        if stream {
            return "--stream does not apply to Echo: it is not causal, so each window of ctx frames is encoded "
                + "whole once complete (docs/echo.md)"
        }
        if precision != .auto && precision != .f32 {
            return "--precision \(precision.rawValue) does not apply to Echo, which runs in f32 only"
        }
        return nil
    }

    /// Encodes (or, for `--stage mel`, takes the Whisper log-mel of) every window of the audio `next` delivers.
    static func run(modelPath: String, stage: EncodeCommand.Stage, inputs: EchoInputs?, threads: Int,
                    progress: ProgressLine?, next: () throws -> [Float]?,
                    loaded: (ContinuousClock.Instant) -> Void) throws -> FloatArray {
        progress?.show("loading \(modelPath)…", force: true)
        let model = try EchoModel.load(path: modelPath)
        loaded(ContinuousClock.now)
        let c = model.configuration
        if stage == .mel {
            var frames: [Float] = []
            var window: [Float] = []
            var work = [Float](repeating: 0, count: model.frontend.scratchCount)
            func flush() {
                guard !window.isEmpty else { return }
                let start = frames.count
                frames.append(contentsOf: repeatElement(0, count: c.context * c.melBins))
                frames.withUnsafeMutableBufferPointer { all in
                    window.withUnsafeBufferPointer {
                        model.frontend.logMel($0, into: all.baseAddress! + start, scratch: &work)
                    }
                }
                window.removeAll(keepingCapacity: true)
            }
            while let piece = try next() {
                var offset = 0
                while offset < piece.count {
                    let take = min(c.frontend.windowSamples - window.count, piece.count - offset)
                    window += piece[offset..<offset + take]
                    offset += take
                    if window.count == c.frontend.windowSamples { flush() }
                }
            }
            flush()
            return FloatArray(shape: [frames.count / c.melBins, c.melBins], values: frames)
        }
        let scratch = EchoScratch(model: model, threads: threads)
        let stream = EchoWindowStream(model: model, inputs: inputs)
        var rows: [Float] = []
        while let piece = try next() {
            piece.withUnsafeBufferPointer { stream.accept($0, scratch: scratch, into: &rows) }
        }
        stream.finish(scratch: scratch, into: &rows)
        return FloatArray(shape: [rows.count / c.width, c.width], values: rows)
    }
}

extension EchoInputs: ExpressibleByArgument {}
