@testable import AudioFiles
import Testing

/// The header-log lines libsndfile 1.2.0 writes for cut files (copied from its SFC_GET_LOG_INFO output).
struct SndFileLogTests {
    @Test func aCutWAVDataChunkIsFound() {
        let log = "File : t.wav\nLength : 32038\nRIFF : 48050 (should be 32030)\nWAVE\nfmt  : 18\n"
            + "data : 48000 (should be 31980)\nEnd\n"
        #expect(SndFileLog.shortfall(in: log)
                == .init(chunk: "data", claimedBytes: 48_000, presentBytes: 31_980))
    }

    @Test func cutAIFFW64AndRF64AreFound() {
        #expect(SndFileLog.shortfall(in: "FORM : 96080 (should be 64050)\n SSND : 96008 (should be 63978)\n")?.chunk
                == "SSND")
        #expect(SndFileLog.shortfall(in: "riff : 96104 (should be 64069)\nwave\ndata : 96024\n")?.claimedBytes
                == 96_104)
        #expect(SndFileLog.shortfall(in: "ds64 : 28\n  Riff size : 96106 (should be 64068)\n  Data size : 96000\n")?
            .presentBytes == 64_068)
    }

    @Test func pipeSizesSmallerClaimsAndContainerSizesPromiseNothing() {
        #expect(SndFileLog.shortfall(in: "RIFF : 4294967295\ndata : 4294967295 (should be 48000)\n") == nil)
        #expect(SndFileLog.shortfall(in: "data : 100 (should be 200)\n") == nil)
        #expect(SndFileLog.shortfall(in: "RIFF : 48058 (should be 48050)\ndata : 48000\n") == nil)
        #expect(SndFileLog.shortfall(in: "  Bytes/sec     : 8111 (should be 8110)\n") == nil)
    }
}
