/// What libsndfile's header log (`SFC_GET_LOG_INFO`) says about a file cut short.
///
/// libsndfile opens a WAV, AIFF, W64 or RF64 file whose header claims more bytes than the file holds and quietly
/// shortens its frame count to what is there; only its log keeps the claim, as lines such as
/// `data : 48000 (should be 31980)`, `SSND : 96008 (should be 63978)` or `riff : 96104 (should be 64069)`. A claim
/// of 0xFFFFFFFF is the size a streaming writer puts in a header written before the length was known (to a pipe):
/// it promises nothing, as in ``WAVReader``.
enum SndFileLog {
    /// A chunk whose declared size runs past the end of the file.
    struct Shortfall: Equatable {
        /// The chunk as the log names it ("data", "SSND", "riff", "Riff size").
        var chunk: String
        var claimedBytes: Int
        var presentBytes: Int
    }

    /// The lines checked: the data chunk of WAV (`data`) and AIFF (`SSND`), and the container size of W64 (`riff`)
    /// and RF64 (`Riff size`, from its ds64 chunk), whose data lines carry no correction. WAV's and AIFF's container
    /// sizes (`RIFF`, `FORM`) are not checked: sloppy writers overstate them in files that are whole.
    static let sizedChunks = ["data", "SSND", "riff", "Riff size"]

    /// The first sized chunk, in ``sizedChunks`` order, that claims more bytes than the file holds.
    static func shortfall(in log: String) -> Shortfall? {
        var found: [String: Shortfall] = [:]
        for line in log.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].trimmingCharacters(in: " ")
            guard sizedChunks.contains(name), found[name] == nil else { continue }
            // "<claimed> (should be <present>)"
            let words = parts[1].split(separator: " ")
            guard words.count == 4, words[1] == "(should", words[2] == "be", let claimed = Int(words[0]),
                  let present = Int(words[3].dropLast()), words[3].hasSuffix(")") else { continue }
            if claimed > present && claimed != Int(UInt32.max) {
                found[name] = Shortfall(chunk: name, claimedBytes: claimed, presentBytes: present)
            }
        }
        return sizedChunks.lazy.compactMap { found[$0] }.first
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        String(drop(while: { $0 == set }).reversed().drop(while: { $0 == set }).reversed())
    }
}
