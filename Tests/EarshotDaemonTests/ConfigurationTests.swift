@testable import EarshotDaemon
import Testing

/// `--source` lists and config files, without starting anything.
@Suite struct ConfigurationTests {
    @Test func sourceLists() throws {
        #expect(try SourceList.parse(["alsa:default"]) == [SourceEntry(name: "mic", spec: "alsa:default")])
        #expect(try SourceList.parse(["none"]) == [])
        #expect(try SourceList.parse(["pulse:,line=alsa:hw:1,0"]) == [
            SourceEntry(name: "mic", spec: "pulse:"), SourceEntry(name: "line", spec: "alsa:hw:1,0")])
        // ALSA names with commas and '=' stay whole.
        #expect(try SourceList.parse(["alsa:plughw:CARD=Mic,DEV=0,desk=file:/tmp/a.wav"]) == [
            SourceEntry(name: "mic", spec: "alsa:plughw:CARD=Mic,DEV=0"), SourceEntry(name: "desk", spec: "file:/tmp/a.wav")])
        #expect(try SourceList.parse(["a=file:x.wav", "b=stdin:s16le:48000:2"]).map(\.name) == ["a", "b"])
    }

    @Test func sourceListErrors() {
        #expect(throws: DaemonError.self) { try SourceList.parse(["alsa:default,pulse:"]) }      // two unnamed
        #expect(throws: DaemonError.self) { try SourceList.parse(["a=pulse:,a=alsa:default"]) }  // duplicate
        #expect(throws: DaemonError.self) { try SourceList.parse(["none,pulse:"]) }
        #expect(throws: DaemonError.self) { try SourceList.parse([""]) }
    }

    @Test func configFiles() throws {
        var c = DaemonConfiguration()
        try c.apply(configText: """
            # earshotd.conf
            model = /models/gemma-4-e2b
            source = mic=alsa:default
            source = "line=pulse:"
            socket = /run/earshot/earshot.sock   # trailing comment
            group = audio
            socket-mode = 640
            allow-uid = 1000
            allow-gid = audio
            block-tokens = 6
            compute-threads = 2
            history-seconds = 10
            log-level = debug
            """, path: "test.conf")
        #expect(c.model == "/models/gemma-4-e2b")
        #expect(c.sources == ["mic=alsa:default", "line=pulse:"])
        #expect(c.socketMode == 0o640)
        #expect(c.blockTokens == 6 && c.computeThreads == 2 && c.historySeconds == 10)
        #expect(c.allowUsers == ["1000"] && c.allowGroups == ["audio"])
    }

    @Test(arguments: ["block-tokens = 13", "nonsense = 1", "just words", "socket-mode = 999", "log-level = loud"])
    func configErrorsNameTheLine(_ line: String) {
        var c = DaemonConfiguration()
        do {
            try c.apply(configText: "# ok\n\(line)\n", path: "x.conf")
            Issue.record("accepted '\(line)'")
        } catch {
            #expect(error.description.hasPrefix("x.conf:2: "))
        }
    }

    @Test func limitsAndTimeouts() throws {
        var c = DaemonConfiguration()
        #expect(c.maxSubscriptions == 64 && c.helloTimeout == 10 && c.idleTimeout == 300 && c.liveBacklogSeconds == 4)
        try c.apply(configText: "max-subscriptions = 5\nhello-timeout = 2.5\nidle-timeout = 30\n"
                    + "live-backlog-seconds = 0.5\n", path: "x.conf")
        #expect(c.maxSubscriptions == 5 && c.helloTimeout == 2.5 && c.idleTimeout == 30 && c.liveBacklogSeconds == 0.5)
        for line in ["max-subscriptions = 0", "hello-timeout = 0", "idle-timeout = forever", "live-backlog-seconds = 0"] {
            #expect(throws: DaemonError.self) { try c.apply(configText: line, path: "x.conf") }
        }
        let command = try EarshotdCommand.parse(["--model", "m", "--source", "none", "--max-subscriptions", "7",
                                                 "--hello-timeout", "1", "--idle-timeout", "4"])
        let resolved = try command.resolved()
        #expect(resolved.maxSubscriptions == 7 && resolved.helloTimeout == 1 && resolved.idleTimeout == 4)
    }

    /// Voice activity: on by default with VADIterator's defaults; the config keys and the options (which win) set it.
    @Test func voiceActivitySettings() throws {
        var c = DaemonConfiguration()
        #expect(c.vad && c.vadModel == nil && c.vadThreshold == 0.5 && c.vadMinSilenceMs == 100 && c.vadSpeechPadMs == 30)
        try c.apply(configText: """
            vad = off
            vad-model = /opt/vad.safetensors
            vad-threshold = 0.3
            vad-min-silence-ms = 250
            vad-speech-pad-ms = 50
            """, path: "x.conf")
        #expect(!c.vad && c.vadModel == "/opt/vad.safetensors" && c.vadThreshold == 0.3)
        #expect(c.vadMinSilenceMs == 250 && c.vadSpeechPadMs == 50)
        for line in ["vad = maybe", "vad-threshold = 1", "vad-threshold = 0.1", "vad-min-silence-ms = -1",
                     "vad-speech-pad-ms = 10001"] {
            #expect(throws: DaemonError.self) { try c.apply(configText: line, path: "x.conf") }
        }
        let off = try EarshotdCommand.parse(["--model", "m", "--source", "none", "--no-vad"]).resolved()
        #expect(!off.vad)
        let tuned = try EarshotdCommand.parse(["--model", "m", "--source", "none", "--vad", "--vad-model", "w",
                                               "--vad-threshold", "0.6", "--vad-min-silence-ms", "300",
                                               "--vad-speech-pad-ms", "0"]).resolved()
        #expect(tuned.vad && tuned.vadModel == "w" && tuned.vadThreshold == 0.6)
        #expect(tuned.vadMinSilenceMs == 300 && tuned.vadSpeechPadMs == 0)
        #expect(throws: (any Error).self) {
            try EarshotdCommand.parse(["--model", "m", "--source", "none", "--vad-threshold", "2"]).resolved()
        }
        #expect(try EarshotdCommand.parse(["--model", "m", "--source", "none"]).resolved().vad)
    }

    /// SIGHUP applies log-level and names every other setting that changed (they wait for a restart).
    @Test func reloadNamesTheChangedSettings() {
        let running = DaemonConfiguration()
        var fresh = running
        #expect(ReloadService.differences(running, fresh).isEmpty)
        fresh.maxClients = 9
        fresh.sources = ["file:a.wav"]
        fresh.logLevel = .debug
        #expect(ReloadService.differences(running, fresh) == ["sources", "maxClients", "logLevel"])
    }

    @Test func commandLineOverridesTheConfigFile() throws {
        let command = try EarshotdCommand.parse(["--model", "m", "--source", "none", "--block-tokens", "3"])
        let c = try command.resolved()
        #expect(c.model == "m" && c.sources == ["none"] && c.blockTokens == 3)
    }
}
