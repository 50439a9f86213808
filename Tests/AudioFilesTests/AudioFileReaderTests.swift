import AudioCore
@testable import AudioFiles
import Foundation
import Testing

/// Every format is made at test time from the speech fixture with an independent encoder and compared with an
/// independent decoder's samples (``MadeFormat``).
struct AudioFileReaderTests {
    /// All of a reader's frames, read in odd-sized pieces that cross every internal block size.
    static func readAll(_ reader: AudioFileReader) throws -> [Float] {
        var samples: [Float] = []
        while case let piece = try reader.read(maxFrames: 4099), !piece.isEmpty {
            #expect(piece.count % reader.info.channels == 0)
            samples += piece
        }
        return samples
    }

    @Test("lossless formats decode to the reference decoder's samples, bit for bit",
          .enabled(if: Tool.allAvailable(["sox", "flac", "ffmpeg"]), "needs sox, flac and ffmpeg"),
          arguments: MadeFormat.lossless)
    func losslessFormat(format: MadeFormat) throws {
        let scratch = try Scratch()
        let path = try format.made(from: Fixture.speech, in: scratch)
        let reader = try AudioFileReader(path: path)
        let samples = try Self.readAll(reader)
        let reference = try format.referenceSamples(path, rate: 16_000, in: scratch)
        #expect(reader.info.sampleRate == 16_000 && reader.info.channels == 1)
        #expect(reader.info.frameCount == reference.count)
        #expect(samples.count == reference.count)
        #expect(samples == reference, "\(format.name): max |Δ| \(maxDifference(samples, reference))")
    }

    @Test("FLAC at 44.1 kHz stereo and 24 bits: the file's own rate and channels, exact samples",
          .enabled(if: Tool.allAvailable(["sox", "flac"]), "needs sox and flac"),
          arguments: [Fixture.stereo44k, Fixture.long24bit])
    func flacOfOtherShapes(source: String) throws {
        let scratch = try Scratch()
        let path = try MadeFormat.lossless[0].made(from: source, in: scratch)
        let wav = try WAV.read(path: source)
        let reader = try AudioFileReader(path: path)
        #expect(reader.info.sampleRate == wav.info.sampleRate && reader.info.channels == wav.info.channels)
        #expect(try Self.readAll(reader) == wav.samples)   // FLAC keeps the PCM, and both scale by 1/2^(bits-1)
    }

    @Test("lossy formats agree with ffmpeg's decode within the documented tolerance",
          .enabled(if: Tool.allAvailable(["lame", "oggenc", "opusenc", "ffmpeg"]),
                   "needs lame, oggenc, opusenc and ffmpeg"),
          arguments: MadeFormat.lossy)
    func lossyFormat(format: MadeFormat) throws {
        let scratch = try Scratch()
        let path = try format.made(from: Fixture.speech, in: scratch)
        let reader = try AudioFileReader(path: path)
        let samples = try Self.readAll(reader)
        let reference = try format.referenceSamples(path, rate: reader.info.sampleRate, in: scratch)
        #expect(reader.info.sampleRate == 16_000 && reader.info.channels == 1)
        #expect(samples.count == reference.count)
        let n = min(samples.count, reference.count)
        if format.fileExtension == "opus" {
            let snr = signalToNoise(Array(samples[..<n]), Array(reference[..<n]))
            #expect(snr >= LossyTolerance.opusSNR, "Opus: SNR \(snr) dB against ffmpeg")
        } else {
            let worst = maxDifference(Array(samples[..<n]), Array(reference[..<n]))
            #expect(worst <= LossyTolerance.maxAbsoluteDifference, "\(format.name): max |Δ| \(worst)")
        }
    }

    @Test("PCM and float WAV keep WAVReader's samples, bit for bit",
          arguments: ["speech", "odd-length", "long24bit", "stereo44k", "short", "silence"])
    func pcmWAVIsWAVReader(caseName: String) throws {
        let path = "\(Fixture.root)/\(caseName)/input.wav"
        let wav = try WAV.read(path: path)
        let reader = try AudioFileReader(path: path)
        #expect(reader.info.frameCount == wav.info.frameCount)
        #expect(reader.info.sampleFormat == wav.info.sampleFormat)
        let samples = try Self.readAll(reader)
        #expect(samples.count == wav.samples.count)
        #expect(zip(samples, wav.samples).allSatisfy { $0.bitPattern == $1.bitPattern })
    }

    @Test("bytes in memory decode as the same file does (the fuzzer's path)",
          .enabled(if: Tool.available("flac"), "needs flac"))
    func memoryBytesDecodeAsTheFile() throws {
        let scratch = try Scratch()
        let path = try MadeFormat.lossless[0].made(from: Fixture.speech, in: scratch)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let fromMemory = try Self.readAll(AudioFileReader(source: MemoryBytes(bytes, path: "memory")))
        #expect(fromMemory == (try Self.readAll(AudioFileReader(path: path))))
    }

    // MARK: - Cut and corrupted files

    @Test("a cut file whose header states its length is refused, naming both sizes",
          .enabled(if: Tool.allAvailable(["sox", "flac", "ffmpeg"]), "needs sox, flac and ffmpeg"),
          arguments: MadeFormat.lossless)
    func cutLosslessFileIsRefused(format: MadeFormat) throws {
        let scratch = try Scratch()
        let whole = try format.made(from: Fixture.speech, in: scratch)
        let cut = try scratch.write("cut.\(format.fileExtension)", try prefix(of: whole, fraction: 2.0 / 3))
        let error = #expect(throws: AudioFileError.self) { try Self.readAll(AudioFileReader(path: cut)) }
        let text = error?.description ?? ""
        #expect(text.hasPrefix(cut + ": "))
        if format.fileExtension == "caf" {
            // libsndfile refuses a CAF whose data chunk runs past the end at open.
            #expect(text.contains("malformed"), "\(text)")
        } else if format.fileExtension == "flac" {
            #expect(text.contains("decoding failed") || text.contains("frames its header promises"), "\(text)")
        } else {
            #expect(text.contains("claims") && text.contains("truncated"), "\(text)")
        }
    }

    @Test("an A-law WAV written to a pipe (sizes 0xFFFFFFFF) reads to its end, as WAVReader reads a PCM one",
          .enabled(if: Tool.available("ffmpeg"), "needs ffmpeg"))
    func pipeHeaderALawReadsToTheEnd() throws {
        let scratch = try Scratch()
        let path = scratch.file("pipe-alaw.wav")
        // ffmpeg cannot seek back on a pipe to fill in the sizes: `-f wav pipe:` leaves them at 0xFFFFFFFF.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", Fixture.speech, "-c:a", "pcm_alaw",
                             "-f", "wav", "pipe:1"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let bytes = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect(bytes[4..<8].elementsEqual([0xFF, 0xFF, 0xFF, 0xFF]))
        let reader = try AudioFileReader(path: path)
        let samples = try Self.readAll(reader)
        #expect(samples.count == 48_000)
        #expect(samples == (try MadeFormat.ffmpeg("", "", []).referenceSamples(path, rate: 16_000, in: scratch)))
    }

    @Test("a whole A-law WAV whose RIFF size is overstated (a sloppy writer) reads in full",
          .enabled(if: Tool.available("sox"), "needs sox"))
    func overstatedRIFFSizeIsNotACut() throws {
        let scratch = try Scratch()
        let made = try MadeFormat.lossless[1].made(from: Fixture.speech, in: scratch)
        var bytes = try prefix(of: made, fraction: 1)
        let riff = UInt32(bytes.count)   // the file's size, where RIFF wants it minus 8
        bytes.replaceSubrange(4..<8, with: (0..<4).map { UInt8(riff >> (8 * $0) & 0xFF) })
        let path = try scratch.write("sloppy.wav", bytes)
        #expect(try Self.readAll(AudioFileReader(path: path)) == (try Self.readAll(AudioFileReader(path: made))))
    }

    @Test("a cut Ogg or MP3 file reads to where it ends (its length is not in a header)",
          .enabled(if: Tool.allAvailable(["lame", "oggenc", "opusenc"]), "needs lame, oggenc and opusenc"),
          arguments: MadeFormat.lossy)
    func cutLossyFileReadsToItsEnd(format: MadeFormat) throws {
        let scratch = try Scratch()
        let whole = try format.made(from: Fixture.speech, in: scratch)
        let cut = try scratch.write("cut.\(format.fileExtension)", try prefix(of: whole, fraction: 2.0 / 3))
        // libsndfile stops at the last whole page or frame it can decode: at a 2/3 cut, 13312 (Vorbis), 15896 (Opus)
        // and 32832 (MP3) of 48000 frames.
        let samples = try Self.readAll(AudioFileReader(path: cut))
        #expect(samples.count > 8_000 && samples.count < 48_000, "\(samples.count) samples")
    }

    @Test("a file whose first bytes are smashed is refused as unrecognised",
          .enabled(if: Tool.allAvailable(["sox", "flac", "ffmpeg", "oggenc", "opusenc"]), "needs the encoders"),
          arguments: MadeFormat.lossless + MadeFormat.lossy.filter { $0.fileExtension != "mp3" })
    func smashedHeaderIsRefused(format: MadeFormat) throws {
        let scratch = try Scratch()
        var bytes = try prefix(of: try format.made(from: Fixture.speech, in: scratch), fraction: 1)
        bytes.replaceSubrange(0..<16, with: repeatElement(0x5A, count: 16))
        let path = try scratch.write("smashed.\(format.fileExtension)", bytes)
        let error = #expect(throws: AudioFileError.self) { try AudioFileReader(path: path) }
        #expect(error?.description.hasPrefix(path + ": not an audio format libsndfile recognises") == true,
                "\(error?.description ?? "")")
        #expect(error?.description.contains("ffmpeg -i IN -ac 1 -ar 16000 OUT.flac") == true)
    }

    @Test("corrupted FLAC frames, Ogg Vorbis and Opus pages give a named error",
          .enabled(if: Tool.allAvailable(["flac", "oggenc", "opusenc"]), "needs flac, oggenc and opusenc"),
          arguments: [MadeFormat.lossless[0]] + MadeFormat.lossy.filter { $0.fileExtension != "mp3" })
    func corruptedPayloadIsRefused(format: MadeFormat) throws {
        let scratch = try Scratch()
        var bytes = try prefix(of: try format.made(from: Fixture.speech, in: scratch), fraction: 1)
        for i in bytes.count / 2..<bytes.count / 2 + 64 { bytes[i] ^= 0xA5 }
        let path = try scratch.write("corrupt.\(format.fileExtension)", bytes)
        let error = #expect(throws: AudioFileError.self) { try Self.readAll(AudioFileReader(path: path)) }
        let text = error?.description ?? ""
        #expect(text.hasPrefix(path + ": "))
        #expect(text.contains("decoding failed") || text.contains("of the 48000 frames its header promises"), "\(text)")
    }

    // MARK: - What libsndfile does not read

    @Test("an M4A (AAC) file is named as such, with how to convert it",
          .enabled(if: Tool.available("ffmpeg"), "needs ffmpeg"))
    func m4aIsRefusedWithAConversionHint() throws {
        let scratch = try Scratch()
        let path = scratch.file("talk.m4a")
        try Tool.run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-i", Fixture.speech, "-c:a", "aac", path])
        let error = #expect(throws: AudioFileError.self) { try AudioFileReader(path: path) }
        let text = error?.description ?? ""
        #expect(text.hasPrefix(path + ": an MP4/M4A/MOV file"), "\(text)")
        #expect(text.contains("Convert it first, e.g. `ffmpeg -i IN -ac 1 -ar 16000 OUT.flac`"), "\(text)")
    }

    @Test("a WebM file is named as such", .enabled(if: Tool.available("ffmpeg"), "needs ffmpeg"))
    func webmIsNamed() throws {
        let scratch = try Scratch()
        let path = scratch.file("talk.webm")
        try Tool.run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-i", Fixture.speech, "-c:a", "libopus", path])
        let error = #expect(throws: AudioFileError.self) { try AudioFileReader(path: path) }
        #expect(error?.description.hasPrefix(path + ": a Matroska/WebM file") == true, "\(error?.description ?? "")")
    }

    @Test("broken inputs give errors that name the file and the problem", arguments: [
        ([UInt8](), "empty file"),
        (Array("hello, this is not audio at all, just some text".utf8), "not an audio format libsndfile recognises"),
        (Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WAVE".utf8), "no fmt chunk"),
    ])
    func brokenInputs(bytes: [UInt8], message: String) throws {
        let scratch = try Scratch()
        let path = try scratch.write("broken.bin", bytes)
        let error = #expect(throws: AudioFileError.self) { try Self.readAll(AudioFileReader(path: path)) }
        #expect(error?.description.hasPrefix(path + ": ") == true)
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "")")
    }

    @Test func aMissingFileIsNamed() {
        let error = #expect(throws: AudioFileError.self) { try AudioFileReader(path: "/nonexistent/earshot.flac") }
        #expect(error?.description.contains("/nonexistent/earshot.flac: cannot open") == true)
    }

    // MARK: - Standard input

    @Test("standard input is spooled from a real pipe and decodes as the file does",
          .enabled(if: Tool.available("flac"), "needs flac"))
    func standardInputFromAPipe() throws {
        let scratch = try Scratch()
        let path = try MadeFormat.lossless[0].made(from: Fixture.speech, in: scratch)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let pipe = Pipe()
        // The writer runs on its own thread: the pipe holds 64 KB, the file is larger.
        let writer = Thread {
            pipe.fileHandleForWriting.write(bytes)
            try? pipe.fileHandleForWriting.close()
        }
        writer.start()
        let spooled = try StandardInput.spool(from: pipe.fileHandleForReading.fileDescriptor)
        #expect(spooled.size == bytes.count)
        let reader = try AudioFileReader(source: spooled)
        #expect(reader.path == "standard input")
        #expect(try Self.readAll(reader) == (try Self.readAll(AudioFileReader(path: path))))
    }
}

func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// 10·log10(Σ reference² / Σ (samples − reference)²), in dB.
func signalToNoise(_ samples: [Float], _ reference: [Float]) -> Double {
    var signal = 0.0, noise = 0.0
    for (x, r) in zip(samples, reference) {
        signal += Double(r) * Double(r)
        noise += Double(x - r) * Double(x - r)
    }
    return 10 * log10(signal / max(noise, 1e-30))
}
