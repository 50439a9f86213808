import Foundation

// The safetensors layout (https://github.com/huggingface/safetensors, "Format"):
//
//   offset 0        8                     8 + N                                         file size
//          +--------+---------------------+----------------------------------------------+
//          | N: u64 | header: N bytes of  | data section: the tensors' bytes, row-major, |
//          | little | UTF-8 JSON, padded  | little-endian; each tensor at               |
//          | endian | with spaces         | [data_offsets[0], data_offsets[1]) from here |
//          +--------+---------------------+----------------------------------------------+
//
//   header = { "__metadata__": {"format": "pt", ...},                     (optional, strings to strings)
//              "<name>": {"dtype": "BF16", "shape": [1024, 1024], "data_offsets": [0, 2097152]}, ... }
//
// This file reads and checks the header. It checks every entry's structure whatever its dtype, so a source that
// exposes only some tensors still refuses a malformed file; whether a dtype is *readable* is checked later, and
// only for the tensors a source exposes. Gaps between tensors and bytes after the last one are allowed; overlaps
// are not.

/// The largest header accepted. Real headers are well under 1 MB; a larger length means a corrupt file.
let maximumHeaderLength = 100_000_000

/// One tensor entry of a header, structurally valid: its byte range holds exactly its elements (when the dtype's
/// size is known) and lies inside the file.
struct HeaderEntry: Sendable {
    let name: String
    /// The dtype as written, e.g. "BF16" or "I64"; not necessarily one this module can read.
    let dtypeName: String
    let shape: [Int]
    /// The tensor's bytes, as absolute offsets in the file.
    let fileRange: Range<Int>
}

/// The parsed and checked header of one safetensors file.
struct SafetensorsHeader: Sendable {
    let file: String
    /// The `__metadata__` entry, or empty.
    let metadata: [String: String]
    /// The tensor entries, sorted by name.
    let entries: [HeaderEntry]

    /// Reads the header of `file` with `pread` (touching no tensor data) and checks it against the file's size.
    init(reading file: OpenFile) throws(CheckpointError) {
        let path = file.path
        self.file = path
        guard file.size >= 8 else {
            throw CheckpointError(.fileTooShort, file: path,
                                  "file is \(file.size) bytes, shorter than the 8-byte header length")
        }
        let lengthBytes = try file.read(count: 8, at: 0)
        let length = lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }   // little-endian u64
        guard length <= UInt64(maximumHeaderLength) else {
            throw CheckpointError(.headerLengthInvalid, file: path,
                                  "header length \(length) exceeds the \(maximumHeaderLength)-byte limit")
        }
        guard length <= UInt64(file.size - 8) else {
            throw CheckpointError(.headerLengthInvalid, file: path,
                                  "header length \(length) runs past the end of the \(file.size)-byte file")
        }
        let headerBytes = try file.read(count: Int(length), at: 8)
        let dataStart = 8 + Int(length)
        let dataSize = file.size - dataStart

        let raw: RawHeader
        do {
            raw = try JSONDecoder().decode(RawHeader.self, from: Data(headerBytes))
        } catch let issue as HeaderIssue {
            throw CheckpointError(issue.code, file: path, tensor: issue.tensor, issue.reason)
        } catch DecodingError.typeMismatch, DecodingError.valueNotFound {
            throw CheckpointError(.headerInvalid, file: path, "header is not a JSON object")
        } catch {
            throw CheckpointError(.headerInvalid, file: path, "header is not valid JSON (\(length) bytes)")
        }
        metadata = raw.metadata

        // In name order, so that of several faults the same one is always reported.
        var entries: [HeaderEntry] = []
        entries.reserveCapacity(raw.entries.count)
        for entry in raw.entries.sorted(by: { $0.name < $1.name }) {
            let name = entry.name
            func fail(_ code: CheckpointError.Code, _ reason: String) -> CheckpointError {
                CheckpointError(code, file: path, tensor: name, reason)
            }
            // The product of the non-zero dimensions must fit in an Int, so the element count does in any order
            // (shape [0, 2^40, 2^40] has no elements, but [2^40, 2^40, 0] multiplied in order would overflow).
            var nonZeroProduct = 1
            for dimension in entry.shape {
                let (product, overflow) = nonZeroProduct.multipliedReportingOverflow(by: max(dimension, 1))
                guard !overflow else { throw fail(.entryInvalid, "shape \(entry.shape) has too many elements") }
                nonZeroProduct = product
            }
            let elementCount = entry.shape.contains(0) ? 0 : nonZeroProduct
            let (begin, end) = (entry.begin, entry.end)
            if let width = storedElementSize[entry.dtype] {
                let (expected, overflow) = elementCount.multipliedReportingOverflow(by: width)
                guard !overflow, end - begin == expected else {
                    throw fail(.byteSizeMismatch, "data_offsets [\(begin), \(end)) hold \(end - begin) bytes, but "
                               + "shape \(entry.shape) of \(entry.dtype) needs \(elementCount) × \(width) bytes")
                }
            }
            guard end <= dataSize else {
                throw fail(.truncated, "data_offsets [\(begin), \(end)) lie beyond the end of the data section "
                           + "(\(dataSize) bytes after the \(dataStart)-byte header); the file is truncated")
            }
            entries.append(HeaderEntry(name: name, dtypeName: entry.dtype, shape: entry.shape,
                                       fileRange: (dataStart + begin) ..< (dataStart + end)))
        }

        // Overlap: in order of start, each non-empty range must begin at or after the furthest end so far.
        var furthest: HeaderEntry?
        let byStart = entries.filter { !$0.fileRange.isEmpty }.sorted { $0.fileRange.lowerBound < $1.fileRange.lowerBound }
        for entry in byStart {
            if let previous = furthest, entry.fileRange.lowerBound < previous.fileRange.upperBound {
                func offsets(_ range: Range<Int>) -> String {
                    "[\(range.lowerBound - dataStart), \(range.upperBound - dataStart))"
                }
                throw CheckpointError(.overlappingTensors, file: path, tensor: entry.name,
                                      "data_offsets \(offsets(entry.fileRange)) overlap tensor '\(previous.name)' "
                                      + "at \(offsets(previous.fileRange))")
            }
            if entry.fileRange.upperBound > furthest?.fileRange.upperBound ?? 0 { furthest = entry }
        }
        self.entries = entries
    }
}

extension HeaderEntry {
    /// The public description of this entry; throws `.unsupportedDType` unless it is F32, F16 or BF16.
    func tensorInfo(file: String) throws(CheckpointError) -> TensorInfo {
        guard let dtype = TensorDType(rawValue: dtypeName) else {
            throw CheckpointError(.unsupportedDType, file: file, tensor: name,
                                  "dtype \(dtypeName) is not supported (only F32, F16 and BF16 can be read)")
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, file: file)
    }
}

/// Element sizes in bytes of the safetensors dtypes, for checking byte ranges of any tensor (readable or not).
/// A dtype missing here (a sub-byte or future type) skips only the size check.
private let storedElementSize: [String: Int] = [
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
]

// MARK: - JSON decoding

/// A problem found while decoding, before the file path is attached.
private struct HeaderIssue: Error {
    let code: CheckpointError.Code
    let tensor: String?
    let reason: String
}

/// Any string key of a JSON object.
private struct AnyKey: CodingKey {
    let stringValue: String
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

/// The header as JSON: `__metadata__` and the tensor entries, each checked for form but not yet against the file.
private struct RawHeader: Decodable {
    struct Entry {
        let name: String
        let dtype: String
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    var metadata: [String: String] = [:]
    var entries: [Entry] = []

    init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: AnyKey.self)
        for key in object.allKeys {
            if key.stringValue == "__metadata__" {
                do {
                    metadata = try object.decode([String: String].self, forKey: key)
                } catch {
                    throw HeaderIssue(code: .headerInvalid, tensor: nil,
                                      reason: "__metadata__ is not an object of strings to strings")
                }
            } else {
                entries.append(try Entry(in: object, key: key))
            }
        }
    }
}

extension RawHeader.Entry {
    fileprivate init(in object: KeyedDecodingContainer<AnyKey>, key: AnyKey) throws {
        let name = key.stringValue
        func issue(_ reason: String) -> HeaderIssue { HeaderIssue(code: .entryInvalid, tensor: name, reason: reason) }
        guard let fields = try? object.nestedContainer(keyedBy: AnyKey.self, forKey: key) else {
            throw issue("entry is not a JSON object")
        }
        func field<T: Decodable>(_ field: String, _ type: T.Type, _ form: String) throws -> T {
            guard fields.contains(AnyKey(field)) else { throw issue("entry has no \(field)") }
            guard let value = try? fields.decode(type, forKey: AnyKey(field)) else {
                throw issue("\(field) is not \(form)")
            }
            return value
        }
        let dtype = try field("dtype", String.self, "a string")
        let shape = try field("shape", [Int].self, "an array of integers")
        guard shape.allSatisfy({ $0 >= 0 }) else { throw issue("shape \(shape) has a negative dimension") }
        let offsets = try field("data_offsets", [Int].self, "an array of integers")
        guard offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
            throw issue("data_offsets \(offsets) is not [begin, end] with 0 ≤ begin ≤ end")
        }
        self.init(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }
}
