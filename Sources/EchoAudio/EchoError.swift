/// An Echo model that cannot be loaded or run: a bad `dimensions.json`, a missing, unused, misshapen or non-finite
/// tensor, a path that holds no Echo model. The description names the file and the field or tensor.
///
/// ```
/// /models/echo/model.safetensors: tensor 'encoder.blockA.0.attna.key.weight' has shape [512, 256], expected [512, 512]
/// ```
public struct EchoError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What sort of failure, for callers that branch on it.
    public enum Kind: Sendable, Equatable {
        /// `dimensions.json` or `earshot-model.json` that the encoder cannot run.
        case invalidConfiguration
        /// A tensor missing, misshapen, non-finite, or present but not part of the encoder.
        case invalidWeights
        /// A path that holds no Echo model.
        case notAModel
        /// Inputs or settings the encoder cannot take (neither mel nor waveform, streaming).
        case invalidInput
    }

    public let kind: Kind
    /// The file or model path concerned, when there is one.
    public let file: String?
    /// The checkpoint key concerned, when there is one.
    public let tensor: String?
    public let description: String

    init(_ kind: Kind, file: String?, tensor: String? = nil, _ reason: String) {
        self.kind = kind
        self.file = file
        self.tensor = tensor
        var text = file.map { "\($0): " } ?? ""
        if let tensor { text += "tensor '\(tensor)' " }
        description = text + reason
    }

    /// A setting that does not apply to Echo (streaming, a reduced precision); `reason` says why.
    public static func unsupportedSetting(_ reason: String) -> EchoError { EchoError(.invalidInput, file: nil, reason) }

    static func missingTensor(_ source: String, _ name: String, expected: [Int]) -> EchoError {
        EchoError(.invalidWeights, file: source, tensor: name, "is missing (expected shape \(expected))")
    }

    static func wrongShape(_ source: String, _ name: String, expected: [Int], actual: [Int]) -> EchoError {
        EchoError(.invalidWeights, file: source, tensor: name, "has shape \(actual), expected \(expected)")
    }

    static func unusedTensor(_ source: String, _ name: String, others: Int) -> EchoError {
        let more = others > 0 ? " (and \(others) more)" : ""
        return EchoError(.invalidWeights, file: source, tensor: name,
                         "is not part of Echo's AudioEncoder at these dimensions\(more): a checkpoint of another "
                         + "model or other dimensions")
    }

    static func nonFinite(_ source: String, _ name: String, index: Int, value: Float) -> EchoError {
        EchoError(.invalidWeights, file: source, tensor: name, "holds \(value) at element \(index)")
    }

    static func invalidDimensions(_ path: String, _ reason: String) -> EchoError {
        EchoError(.invalidConfiguration, file: path, reason)
    }
}
