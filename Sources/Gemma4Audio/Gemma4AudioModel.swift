import Checkpoint
import Foundation
import Kernels

/// A loaded Gemma 4 audio encoder and embedder: configuration plus immutable weights, shared by every stream and
/// every compute thread. Per-stream state lives in `EncoderStream`, per-thread work space in `EncoderScratch`.
public final class Gemma4AudioModel: Sendable {
    public let configuration: Gemma4AudioConfiguration
    let weights: Gemma4AudioWeights
    /// Where the model came from, for logs and errors.
    public let sourceDescription: String
    /// How the projections multiply (see `ComputePrecision`).
    public let precision: ComputePrecision

    /// Binds a tensor source (a checkpoint directory, a single safetensors file) under `configuration`.
    public init(configuration: Gemma4AudioConfiguration, tensors: any TensorSource, sourceDescription: String,
                precision: ComputePrecision = .f32) throws {
        try configuration.validate(path: sourceDescription)
        try precision.checkAvailable()
        self.configuration = configuration
        self.sourceDescription = sourceDescription
        self.precision = precision
        weights = try Gemma4AudioWeights(source: tensors, sourceName: sourceDescription, config: configuration,
                                         precision: precision)
    }

    /// A model of `configuration`'s size with deterministic random weights (see `RandomWeights`): for demos and
    /// benchmarks without a checkpoint. Its embeddings mean nothing.
    public init(randomWeights configuration: Gemma4AudioConfiguration, seed: UInt64 = 0,
                precision: ComputePrecision = .f32) throws {
        try configuration.validate(path: "random")
        try precision.checkAvailable()
        self.configuration = configuration
        self.precision = precision
        sourceDescription = "random weights, \(configuration.hiddenSize)-wide, \(configuration.layerCount) layers, "
            + "D \(configuration.textHiddenSize), seed \(seed) (demo only: these embeddings mean nothing)"
        weights = try Gemma4AudioWeights(binder: WeightBinder(randomSeed: seed), config: configuration,
                                         precision: precision)
    }

    /// Loads a Hugging Face Gemma 4 model directory (`config.json` + `model.safetensors` or a sharded index),
    /// reading only `model.audio_tower.*` and `model.embed_audio.*`.
    public convenience init(huggingFaceDirectory path: String, precision: ComputePrecision = .f32) throws {
        let checkpoint = try HFCheckpointDirectory(path: path, prefixes: Gemma4AudioWeights.prefixes)
        let configuration = try Gemma4AudioConfiguration(configJSON: checkpoint.configData,
                                                         path: path + "/config.json")
        try self.init(configuration: configuration, tensors: checkpoint, sourceDescription: path,
                      precision: precision)
    }

    /// Loads a model from a path: a Hugging Face model directory, or its `config.json` / a `.safetensors` file
    /// inside one; a llama.cpp / ollama mmproj GGUF (see `init(gguf:)`); or `random:e2b` / `random:e4b` for
    /// real-size deterministic random weights (demo only).
    public static func load(path: String, precision: ComputePrecision = .f32) throws -> Gemma4AudioModel {
        if path.hasPrefix("random:") {
            let size = path.dropFirst("random:".count)
            guard let configuration = Gemma4AudioConfiguration.preset(String(size)) else {
                throw ModelError.unknownRandomSize(path: path, size: String(size))
            }
            return try Gemma4AudioModel(randomWeights: configuration, precision: precision)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelError.noSuchFile(path: path)
        }
        if isDirectory.boolValue { return try Gemma4AudioModel(huggingFaceDirectory: path, precision: precision) }
        if isGGUF(path: path) { return try Gemma4AudioModel(gguf: path, precision: precision) }   // or the magic
        let name = (path as NSString).lastPathComponent
        if name == "config.json" || name.hasSuffix(".safetensors") || name.hasSuffix(".safetensors.index.json") {
            return try Gemma4AudioModel(huggingFaceDirectory: (path as NSString).deletingLastPathComponent,
                                        precision: precision)
        }
        throw ModelError.notAModel(path: path)
    }

    /// Parameters, clamp bounds excluded.
    public var parameterCount: Int { weights.parameterCount }

    /// Bytes held by the projection matrices, the bulk of the weights: in f32 precision they keep the checkpoint's
    /// element type (2 bytes per weight for bf16 and f16 checkpoints).
    public var projectionByteCount: Int { weights.projectionByteCount }

    // MARK: Encoding

    /// One encoder pass: the next ready block of every stream in `streams` (streams without one are skipped),
    /// stacked into each projection, then handed back to the streams as encoded tokens. Encoding several streams
    /// together gives each the same result as encoding it alone.
    ///
    /// - Returns: the tokens encoded. Blocks that do not fit in `scratch.capacity` rows wait for the next pass.
    @discardableResult
    public func encodePass(_ streams: [EncoderStream], scratch: EncoderScratch) -> Int {
        let c = configuration
        // The scratch's segment list, moved out for the pass and back empty (its capacity kept: no allocation).
        var segments = scratch.takeSegments()
        defer { scratch.returnSegments(&segments) }
        let tile = precision.rowTile, width = c.sscpOutputWidth
        var rows = 0                                  // rows used so far: whole tiles
        for stream in streams {
            precondition(stream.model === self, "stream belongs to another model")
            let n = stream.nextBlockSize
            let offset = stream.tokensEncoded % tile  // bf16: token t sits at row t mod 12 of its tile
            let span = precision.paddedRows(offset + n)
            guard n > 0, rows + span <= scratch.capacity else { continue }
            let rowsBase = scratch.subsampled.base + rows * width
            rowsBase.update(repeating: 0, count: span * width)   // unused rows encode silence, never garbage
            // The stream's layer states move into the segment (no second reference, so updating them copies nothing).
            segments.append(PassSegment(stream: stream, start: rows + offset, count: n,
                                        layers: stream.startBlock(count: n, into: rowsBase + offset * width)))
            rows += span
        }
        guard !segments.isEmpty else {
            precondition(!streams.contains { $0.nextBlockSize > 0 },
                         "EncoderScratch(capacity: \(scratch.capacity)) cannot hold one block; size it for the block")
            return 0
        }
        let p = c.outputProjectionSize, d = c.textHiddenSize
        var start = ContinuousClock.now
        weights.sscp.inputProjection.apply(scratch.subsampled.base, rows: rows, scratch: scratch,
                                           into: scratch.hidden.base)
        scratch.profile?.add(.subsampling, since: start)
        for (index, layer) in weights.layers.enumerated() {
            ConformerLayer.forward(layer, layer: index, rows: rows, segments: &segments, config: c, scratch: scratch)
        }
        // output_proj (with bias), then the embedder: scale-free RMSNorm, then P→D.
        start = ContinuousClock.now
        let encoded = scratch.encoded.base
        for r in 0..<rows { (encoded + r * p).update(from: weights.outputBias.base, count: p) }
        weights.outputProjection.apply(scratch.hidden.base, rows: rows, scratch: scratch, into: encoded,
                                       accumulate: true)
        VectorOps.rmsNorm(encoded, rows: rows, width: p, weight: nil, eps: c.rmsNormEps,
                          into: scratch.embedderInput.base)
        weights.embeddingProjection.apply(scratch.embedderInput.base, rows: rows, scratch: scratch,
                                          into: scratch.embedded.base)
        scratch.profile?.add(.output, since: start)
        var encodedTokens = 0
        for i in segments.indices {
            let (stream, first, count) = (segments[i].stream, segments[i].start, segments[i].count)
            var layers: [LayerState] = []
            swap(&layers, &segments[i].layers)
            stream.completeBlock(count: count, layers: layers, encoder: encoded + first * p,
                                 embeddings: scratch.embedded.base + first * d)
            encodedTokens += count
        }
        return encodedTokens
    }

    /// Runs passes over `streams` until none has a ready block, handing each stream's new tokens to `emit` (with the
    /// stream's index in `streams`) after every pass that encoded some. The one loop every caller of `encodePass`
    /// needs, whether it feeds one stream or a batch.
    ///
    /// - Returns: the tokens encoded, over all passes and streams.
    @discardableResult
    public func drain(_ streams: [EncoderStream], scratch: EncoderScratch,
                      emit: (_ index: Int, _ tokens: EncodedTokens) throws -> Void) rethrows -> Int {
        var total = 0
        while true {
            let encoded = encodePass(streams, scratch: scratch)
            guard encoded > 0 else { return total }
            total += encoded
            for (index, stream) in streams.enumerated() where stream.hasOutput {
                try emit(index, stream.takeOutput())
            }
        }
    }

    /// Tokens per pass when encoding a whole clip. Measured at E2B size: 96 beats 240 (the larger activations fall
    /// out of cache), while much smaller passes reread the weights too often.
    public static let offlinePassTokens = 96

    /// Encodes a whole 16 kHz mono clip, as transformers does offline but without its 30 s cut: every valid
    /// token of `samples`, under the end-of-clip rule.
    public func encode(_ samples: [Float], scratch: EncoderScratch? = nil) -> EncodedTokens {
        var given = false
        return encode(scratch: scratch) { () -> [Float]? in
            defer { given = true }
            return given ? nil : samples
        }
    }

    /// Encodes a whole 16 kHz mono clip delivered in pieces by `nextPiece` (`nil` after the last), so a clip of
    /// any length (a file read as it is encoded) needs memory for one piece, not the whole clip. The tokens are
    /// the same bits as ``encode(_:scratch:)`` on the pieces joined, however they are cut.
    public func encode(scratch: EncoderScratch? = nil, pieces nextPiece: () throws -> [Float]?) rethrows
        -> EncodedTokens {
        let scratch = scratch ?? EncoderScratch(model: self, capacity: Self.offlinePassTokens)
        let stream = EncoderStream(model: self, blockTokens: scratch.capacity)
        var result = EncodedTokens(firstToken: 0, encoderWidth: configuration.outputProjectionSize,
                                   embeddingWidth: configuration.textHiddenSize)
        // Fed a pass's worth at a time, so an hour-long piece holds one block of SSCP rows, not the whole hour's.
        let passSamples = scratch.capacity * Gemma4AudioConfiguration.samplesPerToken
        while let samples = try nextPiece() {
            samples.withUnsafeBufferPointer { all in
                for start in stride(from: 0, to: all.count, by: passSamples) {
                    stream.accept(UnsafeBufferPointer(rebasing: all[start..<min(all.count, start + passSamples)]))
                    drain([stream], scratch: scratch) { _, tokens in result.append(tokens) }
                }
            }
        }
        stream.finish()
        drain([stream], scratch: scratch) { _, tokens in result.append(tokens) }
        return result
    }
}
