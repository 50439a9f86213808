import Checkpoint
import Testing
import VoiceActivity

/// The shipped file's tensors with one changed: a source for strict-binding errors.
final class EditedSource: TensorSource {
    let base: SafetensorsFile
    let removed: String?
    let reshaped: (String, [Int])?
    let added: String?

    init(base: SafetensorsFile, removing removed: String? = nil, reshaping reshaped: (String, [Int])? = nil,
         adding added: String? = nil) {
        self.base = base
        self.removed = removed
        self.reshaped = reshaped
        self.added = added
    }

    var tensorNames: [String] { (base.tensorNames.filter { $0 != removed } + (added.map { [$0] } ?? [])).sorted() }

    func info(_ name: String) -> TensorInfo? {
        if name == removed { return nil }
        if name == added { return TensorInfo(name: name, dtype: .f32, shape: [1], file: base.path) }
        guard let info = base.info(name) else { return nil }
        if let (target, shape) = reshaped, target == name {
            return TensorInfo(name: name, dtype: info.dtype, shape: shape, file: info.file)
        }
        return info
    }

    func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try base.read(name, into: destination)
    }
}

/// Strict binding: the file must hold exactly Silero VAD v6's 15 tensors with their shapes.
struct WeightBindingTests {
    func bindingError(_ source: EditedSource) throws -> String {
        do {
            _ = try SileroVADWeights(source: source, sourceName: "vad.safetensors")
        } catch let error as SileroVADError {
            return error.description
        }
        Issue.record("binding succeeded")
        return ""
    }

    @Test("the shipped file binds and holds exactly the expected tensors")
    func shippedFile() throws {
        let file = try SafetensorsFile(path: VADFixtures.modelPath)
        #expect(Set(file.tensorNames) == Set(SileroVADWeights.tensorShapes.keys))
        _ = try SileroVADWeights(source: file, sourceName: VADFixtures.modelPath)
    }

    @Test("a missing tensor is named")
    func missing() throws {
        let file = try SafetensorsFile(path: VADFixtures.modelPath)
        let message = try bindingError(EditedSource(base: file, removing: "lstm.bias_hh"))
        #expect(message == "vad.safetensors: tensor 'lstm.bias_hh': missing (expected shape [512])")
    }

    @Test("a misshapen tensor is named, with both shapes")
    func misshapen() throws {
        let file = try SafetensorsFile(path: VADFixtures.modelPath)
        let message = try bindingError(EditedSource(base: file, reshaping: ("encoder.1.weight", [64, 3, 128])))
        #expect(message == "vad.safetensors: tensor 'encoder.1.weight': shape [64, 3, 128], expected [64, 128, 3]")
    }

    @Test("an unexpected tensor is named")
    func unexpected() throws {
        let file = try SafetensorsFile(path: VADFixtures.modelPath)
        let message = try bindingError(EditedSource(base: file, adding: "encoder.4.bias"))
        #expect(message == "vad.safetensors: tensor 'encoder.4.bias': unexpected tensor: not part of Silero VAD v6 16 kHz")
    }

    @Test("an unreadable file is named")
    func unreadable() throws {
        #expect(throws: SileroVADError.self) { try SileroVADWeights(path: "/nonexistent/vad.safetensors") }
    }
}
