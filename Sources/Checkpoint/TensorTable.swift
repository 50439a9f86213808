/// A tensor a source exposes: its description and where its bytes are mapped.
struct StoredTensor: Sendable {
    let info: TensorInfo
    /// The tensor's bytes, as absolute offsets in `info.file`.
    let fileRange: Range<Int>
    /// The mapping that covers `fileRange`; `nil` only for a tensor of zero elements.
    let region: MappedRegion?
}

/// The exposed tensors of a source, shared by ``SafetensorsFile`` and ``HFCheckpointDirectory``.
struct TensorTable: Sendable {
    /// Sorted.
    let names: [String]
    private let tensors: [String: StoredTensor]
    /// The path that errors about unknown names cite (the file, or the directory).
    private let sourcePath: String

    init(_ tensors: [StoredTensor], sourcePath: String) {
        self.tensors = Dictionary(uniqueKeysWithValues: tensors.map { ($0.info.name, $0) })
        names = tensors.map(\.info.name).sorted()
        self.sourcePath = sourcePath
    }

    func info(_ name: String) -> TensorInfo? { tensors[name]?.info }

    func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws(CheckpointError) {
        guard let tensor = tensors[name] else {
            throw CheckpointError(.noSuchTensor, file: sourcePath, tensor: name, "no tensor of this name")
        }
        let count = tensor.info.elementCount
        guard destination.count == count else {
            throw CheckpointError(.destinationSizeMismatch, file: tensor.info.file, tensor: name,
                                  "destination holds \(destination.count) floats, but the tensor has \(count) "
                                  + "elements (shape \(tensor.info.shape))")
        }
        guard count > 0, let region = tensor.region, let target = destination.baseAddress,
              let source = region.bytes(tensor.fileRange).baseAddress else { return }
        widen(tensor.info.dtype, from: source, into: target, count: count)
    }

    func storedBytes(_ name: String) -> UnsafeRawBufferPointer? {
        guard let tensor = tensors[name], let region = tensor.region else { return nil }
        return region.bytes(tensor.fileRange)
    }

    /// The mapped byte range of each file, for tests that check which bytes a source can reach.
    var mappedRanges: [String: Range<Int>] {
        var ranges: [String: Range<Int>] = [:]
        for tensor in tensors.values {
            if let region = tensor.region { ranges[tensor.info.file] = region.fileRange }
        }
        return ranges
    }
}

/// Makes the tensors of `header` that `isWanted` selects readable: checks their dtypes, then maps the one byte range
/// of `file` that covers them all (nothing is mapped when none is wanted or all are empty).
func storedTensors(of header: SafetensorsHeader, in file: OpenFile,
                   where isWanted: (String) -> Bool) throws(CheckpointError) -> [StoredTensor] {
    var wanted: [(entry: HeaderEntry, info: TensorInfo)] = []
    for entry in header.entries where isWanted(entry.name) {
        wanted.append((entry, try entry.tensorInfo(file: header.file)))
    }
    let nonEmpty = wanted.map(\.entry.fileRange).filter { !$0.isEmpty }
    var region: MappedRegion?
    if let lower = nonEmpty.map(\.lowerBound).min(), let upper = nonEmpty.map(\.upperBound).max() {
        region = try file.map(lower ..< upper)
    }
    return wanted.map { entry, info in
        StoredTensor(info: info, fileRange: entry.fileRange, region: entry.fileRange.isEmpty ? nil : region)
    }
}
