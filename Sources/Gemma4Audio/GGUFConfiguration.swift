import Checkpoint

extension Gemma4AudioConfiguration {
    /// The hyperparameters of the Gemma 4 audio encoder in an mmproj GGUF.
    ///
    /// From the metadata (as llama.cpp writes it): `clip.audio.embedding_length` (H), `block_count`,
    /// `attention.head_count`, `projection_dim` (D), `attention.layer_norm_epsilon` (the RMSNorm epsilon;
    /// 1e-6 when absent); `feed_forward_length` must be 4·H and `num_mel_bins` 128, which the encoder hard-codes.
    /// From the tensors, where the metadata is silent: `output_proj_dims` = ne[1] of `a.pre_encode.out.weight`
    /// ({H, P}); `subsampling_conv_channels` = ne[3] of `a.conv1d.{0,1}.weight` ({3, 3, C_in, C_out});
    /// `use_clipped_linears` = whether clamp tensors (`….input_min` …) are present. Everything else (chunk size,
    /// context, conv kernel, softcap, residual weight) is not stored and takes the HF default (spec §1).
    /// - Throws: ``ModelError`` naming the file and the key or tensor.
    public init(gguf file: GGUFFile) throws {
        let path = file.path
        func fail(_ reason: String) -> ModelError { .invalidConfiguration(path: path, reason: reason) }
        let metadata = file.metadata
        guard let architecture = metadata["general.architecture"]?.stringValue else {
            throw fail("no general.architecture: not a llama.cpp mmproj GGUF")
        }
        guard architecture == "clip" else {
            throw fail("general.architecture is '\(architecture)', not 'clip': this GGUF is a language model, not "
                       + "the mmproj file (mmproj-*.gguf) that holds the audio encoder")
        }
        guard metadata["clip.has_audio_encoder"]?.boolValue == true else {
            throw fail("the mmproj has no audio encoder (clip.has_audio_encoder is "
                       + "\(metadata["clip.has_audio_encoder"]?.description ?? "missing"))")
        }
        let projectorKey = metadata["clip.audio.projector_type"] != nil ? "clip.audio.projector_type"
                                                                         : "clip.projector_type"
        guard let projector = metadata[projectorKey]?.stringValue, projector == "gemma4a" else {
            throw fail("the audio encoder is not Gemma 4's: \(projectorKey) is "
                       + "\(metadata[projectorKey]?.description ?? "missing"), expected \"gemma4a\"")
        }
        func integer(_ key: String, within limits: ClosedRange<Int>? = nil) throws -> Int {
            guard let value = metadata[key] else { throw fail("\(key) is missing") }
            guard let number = value.integerValue else { throw fail("\(key) is \(value), not an integer") }
            if let limits { try Self.require(number, within: limits, key, path: path) }
            return number
        }
        self.init()
        hiddenSize = try integer("clip.audio.embedding_length", within: Limits.hiddenSize)
        layerCount = try integer("clip.audio.block_count", within: Limits.layerCount)
        headCount = try integer("clip.audio.attention.head_count", within: Limits.headCount)
        textHiddenSize = try integer("clip.audio.projection_dim", within: Limits.textHiddenSize)
        let feedForward = try integer("clip.audio.feed_forward_length")
        guard feedForward == 4 * hiddenSize else {
            throw fail("clip.audio.feed_forward_length is \(feedForward), but a Gemma 4 audio encoder's FFN is "
                       + "4 × embedding_length = \(4 * hiddenSize)")
        }
        if metadata["clip.audio.num_mel_bins"] != nil {
            let bins = try integer("clip.audio.num_mel_bins")
            guard bins == melBins else {
                throw fail("clip.audio.num_mel_bins is \(bins); the Gemma 4 encoder reads \(melBins) mel bins")
            }
        }
        if let epsilon = metadata["clip.audio.attention.layer_norm_epsilon"] {
            guard let value = epsilon.floatValue else {
                throw fail("clip.audio.attention.layer_norm_epsilon is \(epsilon), not a float")
            }
            rmsNormEps = Float(value)
        }

        func dimensions(_ name: String, rank: Int, _ meaning: String) throws -> [Int] {
            guard let tensor = file.tensor(name) else {
                throw fail("tensor '\(name)' is missing, so \(meaning) is unknown")
            }
            guard tensor.dimensions.count == rank else {
                throw fail("tensor '\(name)' has ne \(tensor.dimensions), expected \(rank) dimensions")
            }
            return tensor.dimensions
        }
        let output = try dimensions("a.pre_encode.out.weight", rank: 2, "output_proj_dims")   // {H, P}
        guard output[0] == hiddenSize else {
            throw fail("tensor 'a.pre_encode.out.weight' has ne \(output), but ne[0] must be embedding_length "
                       + "\(hiddenSize)")
        }
        outputProjectionSize = output[1]
        let conv0 = try dimensions("a.conv1d.0.weight", rank: 4, "subsampling_conv_channels[0]")  // {3, 3, 1, C0}
        let conv1 = try dimensions("a.conv1d.1.weight", rank: 4, "subsampling_conv_channels[1]")  // {3, 3, C0, C1}
        subsamplingChannels = [conv0[3], conv1[3]]
        useClippedLinears = file.tensorNames.contains { name in
            GGUFNames.clampSuffixes.contains { name.hasSuffix("." + $0) }
        }
        try validate(path: path)
    }
}
