/// The spec §6 name table between a Gemma 4 mmproj GGUF and the Hugging Face checkpoint (GGUFCheckpoint.swift's
/// table says what llama.cpp's converter did beyond renaming).
enum GGUFNames {
    /// The prefixes of audio tensors in an mmproj: the encoder and its projector.
    static let audioPrefixes = ["a.", "mm.a."]
    static let clampSuffixes = ["input_min", "input_max", "output_min", "output_max"]

    enum Kind {
        /// A plain `.weight` (norms, `relative_k_proj`, SSCP, output projection, embedder).
        case plain
        /// A ClippableLinear: GGUF `.weight` ↔ HF `.linear.weight`, plus its four clamp scalars.
        case linear
        case clamp
        case perDimScale
        case depthwise
    }

    /// Per layer: GGUF base (after `a.blk.N.`) → (HF base after `model.audio_tower.layers.N.`, kind).
    private static let layerTable: [(gguf: String, hf: String, kind: Kind)] = [
        ("ffn_norm", "feed_forward1.pre_layer_norm", .plain),
        ("ffn_post_norm", "feed_forward1.post_layer_norm", .plain),
        ("ffn_up", "feed_forward1.ffw_layer_1", .linear),
        ("ffn_down", "feed_forward1.ffw_layer_2", .linear),
        ("ffn_norm_1", "feed_forward2.pre_layer_norm", .plain),
        ("ffn_post_norm_1", "feed_forward2.post_layer_norm", .plain),
        ("ffn_up_1", "feed_forward2.ffw_layer_1", .linear),
        ("ffn_down_1", "feed_forward2.ffw_layer_2", .linear),
        ("attn_pre_norm", "norm_pre_attn", .plain),
        ("attn_post_norm", "norm_post_attn", .plain),
        ("attn_q", "self_attn.q_proj", .linear),
        ("attn_k", "self_attn.k_proj", .linear),
        ("attn_v", "self_attn.v_proj", .linear),
        ("attn_out", "self_attn.post", .linear),
        ("attn_k_rel", "self_attn.relative_k_proj", .plain),
        ("per_dim_scale", "self_attn.per_dim_scale", .perDimScale),
        ("conv_norm", "lconv1d.pre_layer_norm", .plain),      // sic: the converter's table swaps the two
        ("norm_conv", "lconv1d.conv_norm", .plain),           // lconv norms; llama.cpp's loader swaps them back
        ("conv_pw1", "lconv1d.linear_start", .linear),
        ("conv_pw2", "lconv1d.linear_end", .linear),
        ("conv_dw", "lconv1d.depthwise_conv1d", .depthwise),
        ("ln2", "norm_out", .plain),
    ]

    /// Outside the layers: full GGUF name ↔ full HF name (all plain).
    private static let globalTable: [(gguf: String, hf: String)] = [
        ("a.conv1d.0.weight", "model.audio_tower.subsample_conv_projection.layer0.conv.weight"),
        ("a.conv1d.0.norm.weight", "model.audio_tower.subsample_conv_projection.layer0.norm.weight"),
        ("a.conv1d.1.weight", "model.audio_tower.subsample_conv_projection.layer1.conv.weight"),
        ("a.conv1d.1.norm.weight", "model.audio_tower.subsample_conv_projection.layer1.norm.weight"),
        ("a.input_projection.weight", "model.audio_tower.subsample_conv_projection.input_proj_linear.weight"),
        ("a.pre_encode.out.weight", "model.audio_tower.output_proj.weight"),
        ("a.pre_encode.out.bias", "model.audio_tower.output_proj.bias"),
        ("mm.a.input_projection.weight", "model.embed_audio.embedding_projection.weight"),
    ]

    private static let ggufLayerPrefix = "a.blk."
    private static let hfLayerPrefix = "model.audio_tower.layers."

    /// The HF name (and kind) of a GGUF audio tensor; `nil` when spec §6 has no such tensor.
    static func huggingFaceName(ofGGUF name: String) -> (name: String, kind: Kind)? {
        if let global = globalTable.first(where: { $0.gguf == name }) { return (global.hf, .plain) }
        guard let (layer, rest) = splitLayer(name, prefix: ggufLayerPrefix),
              let dot = rest.lastIndex(of: ".") else { return nil }
        let base = String(rest[..<dot]), suffix = String(rest[rest.index(after: dot)...])
        guard let row = layerTable.first(where: { $0.gguf == base }) else { return nil }
        let hf = hfLayerPrefix + "\(layer)." + row.hf
        switch (row.kind, suffix) {
        case (.linear, "weight"): return (hf + ".linear.weight", .linear)
        case (.linear, _) where clampSuffixes.contains(suffix): return (hf + "." + suffix, .clamp)
        case (.perDimScale, "weight"): return (hf, .perDimScale)
        case (.plain, "weight"), (.depthwise, "weight"): return (hf + ".weight", row.kind)
        default: return nil
        }
    }

    /// The GGUF name of an HF audio tensor; `nil` when spec §6 has no such tensor.
    static func ggufName(ofHuggingFace name: String) -> String? {
        if let global = globalTable.first(where: { $0.hf == name }) { return global.gguf }
        guard let (layer, rest) = splitLayer(name, prefix: hfLayerPrefix) else { return nil }
        for row in layerTable {
            let gguf = ggufLayerPrefix + "\(layer)." + row.gguf
            switch row.kind {
            case .linear:
                if rest == row.hf + ".linear.weight" { return gguf + ".weight" }
                for suffix in clampSuffixes where rest == row.hf + "." + suffix { return gguf + "." + suffix }
            case .perDimScale:
                if rest == row.hf { return gguf + ".weight" }
            case .plain, .depthwise, .clamp:
                if rest == row.hf + ".weight" { return gguf + ".weight" }
            }
        }
        return nil
    }

    /// `prefix` + decimal layer number + "." + rest → (layer, rest).
    private static func splitLayer(_ name: String, prefix: String) -> (Int, Substring)? {
        guard name.hasPrefix(prefix) else { return nil }
        let tail = name.dropFirst(prefix.count)
        guard let dot = tail.firstIndex(of: "."), let layer = Int(tail[..<dot]), layer >= 0,
              String(layer) == tail[..<dot] else { return nil }
        return (layer, tail[tail.index(after: dot)...])
    }
}
