import AudioCore
import Checkpoint
import EchoAudio
import Foundation

/// The committed Echo fixtures (`Tests/Fixtures/echo`, made by `tools/reference/make_echo_fixtures.py` with the
/// seed's own classes on CPU).
enum EchoFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/echo").path
    static let models = ["base", "zerokey"]
    static let cases = ["speech", "silence"]

    static func modelPath(_ name: String) -> String { "\(root)/\(name)" }

    static func model(_ name: String) throws -> EchoModel { try EchoModel.load(path: modelPath(name)) }

    static func npy(_ file: String) throws -> FloatArray { try NPY.read(path: "\(root)/\(file)") }

    /// A case's 16 kHz samples, as the script read them (int16 / 32768).
    static func audio(_ caseName: String) throws -> [Float] {
        try WAV.read(path: "\(root)/\(caseName)/input.wav").samples
    }
}

/// Largest `|a[i] − b[i]|`; infinity when the lengths differ.
func maxAbsDifference(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
    guard a.count == b.count else { return .infinity }
    var worst: Float = 0
    for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
    return worst
}

/// The smallest cosine between corresponding rows of `width` values.
func minRowCosine(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>, width: Int) -> Double {
    let (a, b) = (Array(a), Array(b))
    var worst = 1.0
    for row in 0..<(a.count / width) {
        var (dot, na, nb) = (0.0, 0.0, 0.0)
        for j in 0..<width {
            let (x, y) = (Double(a[row * width + j]), Double(b[row * width + j]))
            dot += x * y
            na += x * x
            nb += y * y
        }
        worst = min(worst, dot / max((na * nb).squareRoot(), 1e-30))
    }
    return worst
}

/// Transposes `[rows, columns]` to `[columns, rows]`.
func transposed(_ values: ArraySlice<Float>, rows: Int, columns: Int) -> [Float] {
    let v = Array(values)
    var out = [Float](repeating: 0, count: v.count)
    for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = v[r * columns + c] } }
    return out
}

/// Writes float32 tensors as a safetensors file: for checkpoints the binding tests break on purpose.
func writeSafetensors(_ tensors: [(name: String, shape: [Int], values: [Float])], to path: String) throws {
    var header: [String: Any] = [:]
    var offset = 0
    for t in tensors {
        header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.values.count]]
        offset += 4 * t.values.count
    }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    var data = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(json)
    for t in tensors { t.values.withUnsafeBytes { data.append(contentsOf: $0) } }
    try data.write(to: URL(fileURLWithPath: path))
}

/// Every tensor of a safetensors file, as float32.
func readSafetensors(_ path: String) throws -> [(name: String, shape: [Int], values: [Float])] {
    let file = try SafetensorsFile(path: path)
    return try file.tensorNames.map { ($0, file.info($0)!.shape, try file.floats($0)) }
}

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "echo-tests-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
