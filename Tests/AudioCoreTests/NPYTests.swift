import AudioCore
import Foundation
import Testing

struct NPYTests {
    @Test func roundTripAndHeader() throws {
        let path = NSTemporaryDirectory() + "earshot-\(UUID().uuidString).npy"
        let array = FloatArray(shape: [2, 3], values: [1, -2, 3.5, 0, .pi, -1e-7])
        try NPY.write(array, path: path)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(Array(bytes[0..<8]) == [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"))
        #expect(try NPY.read(path: path) == array)
        let vector = FloatArray(shape: [4], values: [1, 2, 3, 4])
        try NPY.write(vector, path: path)
        #expect(try NPY.read(path: path) == vector)
    }

    @Test func rejectsOtherFiles() throws {
        let path = NSTemporaryDirectory() + "earshot-\(UUID().uuidString).npy"
        try Data("not numpy".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: AudioFileError.self) { try NPY.read(path: path) }
    }
}
