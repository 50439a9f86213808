import Foundation

/// The fields of a Hugging Face `config.json` that the audio encoder reads (transformers' `Gemma4Config`:
/// `audio_config` and `text_config.hidden_size`); other keys are ignored. A field the file omits is nil, and the
/// configuration keeps transformers' default for it; a field that is present must have the right type (null
/// included), or decoding throws a ``FieldError`` naming it.
struct ConfigJSON: Decodable {
    /// `audio_config`; nil when absent or not an object.
    var audio: Audio?
    /// `text_config`; nil when absent or not an object.
    var text: Text?

    private enum CodingKeys: String, CodingKey {
        case audio = "audio_config"
        case text = "text_config"
    }

    struct Audio: Decodable {
        var modelType: String?
        var hiddenSize: Int?
        var layerCount: Int?
        var headCount: Int?
        var subsamplingChannels: [Int]?
        var convKernelSize: Int?
        var residualWeight: Double?
        var attentionChunkSize: Int?
        var attentionContextLeft: Int?
        var attentionContextRight: Int?
        var attentionLogitCap: Double?
        var useClippedLinears: Bool?
        var rmsNormEps: Double?
        var gradientClipping: Double?
        var outputProjectionSize: Int?
        var hiddenAct: String?

        private enum CodingKeys: String, CodingKey {
            case modelType = "model_type"
            case hiddenSize = "hidden_size"
            case layerCount = "num_hidden_layers"
            case headCount = "num_attention_heads"
            case subsamplingChannels = "subsampling_conv_channels"
            case convKernelSize = "conv_kernel_size"
            case residualWeight = "residual_weight"
            case attentionChunkSize = "attention_chunk_size"
            case attentionContextLeft = "attention_context_left"
            case attentionContextRight = "attention_context_right"
            case attentionLogitCap = "attention_logit_cap"
            case useClippedLinears = "use_clipped_linears"
            case rmsNormEps = "rms_norm_eps"
            case gradientClipping = "gradient_clipping"
            case outputProjectionSize = "output_proj_dims"
            case hiddenAct = "hidden_act"
        }

        init(from decoder: any Decoder) throws {
            let fields = try decoder.container(keyedBy: CodingKeys.self)
            func field<Value: Decodable>(_ key: CodingKeys, _ expected: String) throws -> Value? {
                try fields.field(key, expected, scope: "audio_config")
            }
            modelType = try field(.modelType, "a string")
            hiddenSize = try field(.hiddenSize, "an integer")
            layerCount = try field(.layerCount, "an integer")
            headCount = try field(.headCount, "an integer")
            subsamplingChannels = try field(.subsamplingChannels, "two integers")
            convKernelSize = try field(.convKernelSize, "an integer")
            residualWeight = try field(.residualWeight, "a number")
            attentionChunkSize = try field(.attentionChunkSize, "an integer")
            attentionContextLeft = try field(.attentionContextLeft, "an integer")
            attentionContextRight = try field(.attentionContextRight, "an integer")
            attentionLogitCap = try field(.attentionLogitCap, "a number")
            useClippedLinears = try field(.useClippedLinears, "true or false")
            rmsNormEps = try field(.rmsNormEps, "a number")
            gradientClipping = try field(.gradientClipping, "a number")
            outputProjectionSize = try field(.outputProjectionSize, "an integer")
            hiddenAct = try field(.hiddenAct, "a string")
        }
    }

    struct Text: Decodable {
        var hiddenSize: Int?

        private enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size"
        }

        init(from decoder: any Decoder) throws {
            hiddenSize = try decoder.container(keyedBy: CodingKeys.self)
                .field(.hiddenSize, "an integer", scope: "text_config")
        }
    }

    init(from decoder: any Decoder) throws {
        let sections = try decoder.container(keyedBy: CodingKeys.self)
        audio = try sections.section(.audio)
        text = try sections.section(.text)
    }

    /// A field present with the wrong type: `field` is its dotted name ("audio_config.hidden_size"), `value` the
    /// JSON it holds, quoted for the message.
    struct FieldError: Error {
        let field: String
        let expected: String
        let value: String
    }
}

private extension KeyedDecodingContainer {
    /// The field `key` of the object `scope`: nil when absent, else its value, or a ``ConfigJSON/FieldError`` saying
    /// it must be `expected` (JSONDecoder's own errors do not always say which field, e.g. for 12.5 as an integer).
    func field<Value: Decodable>(_ key: Key, _ expected: String, scope: String) throws -> Value? {
        guard contains(key) else { return nil }
        let value = (try? decodeNil(forKey: key)) == true ? nil : try? decode(Value.self, forKey: key)
        guard let value else {
            let quoted = (try? decode(QuotedJSON.self, forKey: key))?.description ?? "something else"
            throw ConfigJSON.FieldError(field: "\(scope).\(key.stringValue)", expected: expected, value: quoted)
        }
        return value
    }

    /// The object `key`: nil when absent, null or not an object (the caller says what is missing); errors in its
    /// fields propagate.
    func section<Section: Decodable>(_ key: Key) throws -> Section? {
        do {
            return try decodeIfPresent(Section.self, forKey: key)
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.count <= codingPath.count + 1 {
            return nil
        }
    }
}

/// Any JSON value, decoded only to be quoted in an error message.
private enum QuotedJSON: Decodable, CustomStringConvertible {
    case null, flag(Bool), number(Double), text(String), array, object

    init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer()
        if value.decodeNil() {
            self = .null
        } else if let flag = try? value.decode(Bool.self) {
            self = .flag(flag)
        } else if let number = try? value.decode(Double.self) {
            self = .number(number)
        } else if let text = try? value.decode(String.self) {
            self = .text(text)
        } else if (try? value.decode([QuotedJSON].self)) != nil {
            self = .array
        } else {
            self = .object
        }
    }

    var description: String {
        switch self {
        case .null: "null"
        case .flag(let flag): "\(flag)"
        case .number(let number): number == number.rounded() && abs(number) < 1e15 ? "\(Int(number))" : "\(number)"
        case .text(let text): "\"\(text)\""
        case .array: "an array"
        case .object: "an object"
        }
    }
}

extension Gemma4AudioConfiguration {
    /// Reads `config.json` bytes. `path` only labels errors.
    /// - Throws: ``ModelError`` naming `path` and the field: invalid JSON, no `audio_config` object, a field of the
    ///   wrong type, a size outside ``Limits``, a setting the encoder cannot run, no `text_config.hidden_size`.
    public init(configJSON data: Data, path: String) throws {
        func invalid(_ reason: String) -> ModelError { .invalidConfiguration(path: path, reason: reason) }
        let file: ConfigJSON
        do {
            file = try JSONDecoder().decode(ConfigJSON.self, from: data)
        } catch let error as ConfigJSON.FieldError {
            throw invalid("\(error.field) must be \(error.expected), got \(error.value)")
        } catch DecodingError.typeMismatch {
            throw invalid("config.json is not a JSON object")
        } catch DecodingError.dataCorrupted(let context) {
            let detail = context.underlyingError.map { "\($0.localizedDescription)" } ?? context.debugDescription
            throw invalid("config.json is not valid JSON (\(detail))")
        }
        guard let audio = file.audio else {
            throw invalid("no 'audio_config' object: not a Gemma 4 model with an audio encoder")
        }
        if let type = audio.modelType, type != "gemma4_audio" {
            throw invalid("audio_config.model_type is '\(type)', expected 'gemma4_audio'")
        }
        func size(_ value: Int?, _ fallback: Int, within limits: ClosedRange<Int>? = nil, _ key: String) throws -> Int {
            guard let value else { return fallback }
            if let limits { try Self.require(value, within: limits, "audio_config.\(key)", path: path) }
            return value
        }
        self.init()
        hiddenSize = try size(audio.hiddenSize, hiddenSize, within: Limits.hiddenSize, "hidden_size")
        layerCount = try size(audio.layerCount, layerCount, within: Limits.layerCount, "num_hidden_layers")
        headCount = try size(audio.headCount, headCount, within: Limits.headCount, "num_attention_heads")
        convKernelSize = try size(audio.convKernelSize, convKernelSize, within: Limits.convKernelSize,
                                  "conv_kernel_size")
        residualWeight = audio.residualWeight.map(Float.init) ?? residualWeight
        attentionChunkSize = try size(audio.attentionChunkSize, attentionChunkSize, within: Limits.attentionChunkSize,
                                      "attention_chunk_size")
        attentionContextLeft = try size(audio.attentionContextLeft, attentionContextLeft,
                                        within: Limits.attentionContextLeft, "attention_context_left")
        attentionContextRight = try size(audio.attentionContextRight, attentionContextRight, "attention_context_right")
        attentionLogitCap = audio.attentionLogitCap.map(Float.init) ?? attentionLogitCap
        rmsNormEps = audio.rmsNormEps.map(Float.init) ?? rmsNormEps
        gradientClipping = audio.gradientClipping.map(Float.init) ?? gradientClipping
        outputProjectionSize = try size(audio.outputProjectionSize, outputProjectionSize,
                                        within: Limits.outputProjectionSize, "output_proj_dims")
        useClippedLinears = audio.useClippedLinears ?? useClippedLinears
        if let channels = audio.subsamplingChannels {
            guard channels.count == 2 else {
                throw invalid("audio_config.subsampling_conv_channels must be two integers")
            }
            for channel in channels {
                try Self.require(channel, within: Limits.subsamplingChannels, "audio_config.subsampling_conv_channels",
                                 path: path)
            }
            subsamplingChannels = channels
        }
        if let act = audio.hiddenAct, act != "silu" {
            throw invalid("audio_config.hidden_act '\(act)' is not supported (Gemma 4 uses 'silu')")
        }
        guard let textHiddenSize = file.text?.hiddenSize else {
            throw invalid("no text_config.hidden_size: the embedding width D is unknown")
        }
        try Self.require(textHiddenSize, within: Limits.textHiddenSize, "text_config.hidden_size", path: path)
        self.textHiddenSize = textHiddenSize
        try validate(path: path)
    }
}
