import Checkpoint
import Foundation
import Testing

// The mmproj GGUFs written by tools/reference/make_gguf_fixtures.py with gguf-py, as llama.cpp's converter writes
// them, read back against the HF safetensors they were converted from. Tensor names are matched through the
// generator's manifest (gguf-py's own name map), so this checks the reader, not Earshot's name table.

private let fixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures").path
private let ggufDirectory = fixtures + "/gguf"

/// The generator's record of one GGUF: for each GGUF tensor, its HF name, ggml type name and ne.
private struct ManifestFile: Decodable {
    struct Tensor: Decodable {
        let hf: String
        let type: String
        let ne: [Int]
    }
    let from: String
    let tensors: [String: Tensor]
}

private func manifest() throws -> [String: ManifestFile] {
    struct Root: Decodable { let files: [String: ManifestFile] }
    let data = try Data(contentsOf: URL(fileURLWithPath: ggufDirectory + "/manifest.json"))
    return try JSONDecoder().decode(Root.self, from: data).files
}

@Suite(.enabled(if: FileManager.default.fileExists(atPath: ggufDirectory + "/manifest.json"),
                "the GGUF fixtures are not in Tests/Fixtures/gguf"))
struct GGUFFixtureTests {
    @Test(arguments: ["mmproj-tiny-f32.gguf", "mmproj-tiny-f16.gguf", "mmproj-tiny-bf16.gguf", "mmproj-tiny-q8_0.gguf",
                      "mmproj-noclip-f32.gguf"])
    func tensorInfosAreWhatTheConverterWrote(name: String) throws {
        let record = try #require(try manifest()[name])
        let file = try GGUFFile(path: ggufDirectory + "/" + name, prefixes: ["a.", "mm.a."])
        #expect(file.metadata["general.architecture"]?.stringValue == "clip")
        #expect(file.metadata["general.type"]?.stringValue == "mmproj")
        #expect(file.metadata["clip.audio.projector_type"]?.stringValue == "gemma4a")
        #expect(file.alignment == 32 && file.dataOffset % 32 == 0)
        #expect(Set(file.tensors.map(\.name)) == Set(record.tensors.keys))
        for tensor in file.tensors {
            let expected = try #require(record.tensors[tensor.name])
            #expect(tensor.type.name == expected.type, "\(tensor.name)")
            #expect(tensor.dimensions == expected.ne, "\(tensor.name)")
            #expect(tensor.offset % 32 == 0)
        }
        #expect(file.tensorNames == record.tensors.keys.filter { $0.hasPrefix("a.") || $0.hasPrefix("mm.a.") }.sorted())
    }

    /// F32 tensors are the HF bytes; per_dim_scale is softplus of them (to an ulp: torch's softplus against libm's).
    @Test(arguments: ["mmproj-tiny-f32.gguf", "mmproj-noclip-f32.gguf"])
    func f32TensorsHoldTheHFValues(name: String) throws {
        let record = try #require(try manifest()[name])
        let file = try GGUFFile(path: ggufDirectory + "/" + name, prefixes: ["a.", "mm.a."])
        let hf = try SafetensorsFile(path: fixtures + "/models/\(record.from)/model.safetensors")
        #expect(file.tensorNames.count == hf.tensorNames.count)
        for ggufName in file.tensorNames {
            let hfName = try #require(record.tensors[ggufName]?.hf)
            let (stored, original) = (try file.floats(ggufName), try hf.floats(hfName))
            if hfName.hasSuffix("per_dim_scale") {
                for (y, x) in zip(stored, original) {
                    let softplus = x > 20 ? x : log1pf(expf(x))
                    #expect(abs(softplus - y) <= y.ulp, "\(ggufName): softplus(\(x)) = \(softplus), stored \(y)")
                }
            } else {
                #expect(stored.map(\.bitPattern) == original.map(\.bitPattern), "\(ggufName)")
            }
        }
    }

    /// Q8_0, F16 and BF16 hold the F32 values to within their rounding: half a step of the block scale for Q8_0
    /// (plus the binary16 rounding of the scale itself), 2⁻¹¹ relative for F16, 2⁻⁸ relative for BF16.
    @Test(arguments: ["mmproj-tiny-f16.gguf", "mmproj-tiny-bf16.gguf", "mmproj-tiny-q8_0.gguf"])
    func quantizedTensorsAreTheF32OnesRounded(name: String) throws {
        let f32 = try GGUFFile(path: ggufDirectory + "/mmproj-tiny-f32.gguf", prefixes: ["a.", "mm.a."])
        let file = try GGUFFile(path: ggufDirectory + "/" + name, prefixes: ["a.", "mm.a."])
        #expect(file.tensorNames == f32.tensorNames)
        var typesSeen: Set<String> = []
        for tensorName in file.tensorNames {
            let tensor = try #require(file.tensor(tensorName))
            typesSeen.insert(tensor.type.name)
            let (values, exact) = (try file.floats(tensorName), try f32.floats(tensorName))
            #expect(values.count == exact.count)
            switch tensor.type {
            case .f32:
                #expect(values.map(\.bitPattern) == exact.map(\.bitPattern), "\(tensorName)")
            case .f16, .bf16:
                let relative: Float = tensor.type == .f16 ? 0x1p-11 : 0x1p-8
                for (v, x) in zip(values, exact) {
                    #expect(abs(v - x) <= abs(x) * relative + 0x1p-24, "\(tensorName): \(v) for \(x)")
                }
            default:
                #expect(tensor.type == .q8_0)
                for block in stride(from: 0, to: exact.count, by: 32) {
                    let original = exact[block ..< block + 32], stored = values[block ..< block + 32]
                    let step = original.map(abs).max()! / 127   // the scale before its binary16 rounding
                    for (v, x) in zip(stored, original) {
                        #expect(abs(v - x) <= step * (0.5 + 127 * 0x1p-11) * 1.0001, "\(tensorName): \(v) for \(x)")
                    }
                }
            }
        }
        let expectedTypes: Set<String> = switch name {
        case "mmproj-tiny-f16.gguf": ["F32", "F16"]
        case "mmproj-tiny-bf16.gguf": ["F32", "BF16"]
        default: ["F32", "Q8_0", "F16"]   // mm.a.input_projection: ne[0] = 48 is not a multiple of 32 → F16
        }
        #expect(typesSeen == expectedTypes)
    }
}
