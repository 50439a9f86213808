import AudioCore
import EarshotTypes

/// A request to follow a live stream, as every transport asks it (the socket's `subscribe`, gRPC's `Subscribe`).
package struct SubscribeRequest: Sendable, Equatable {
    package var stream: String
    package var start: StartPoint
    package var payload: PayloadType
    package var output: OutputKind
    package var options: StreamOptions

    package init(stream: String, start: StartPoint = .now, payload: PayloadType = .f32,
                 output: OutputKind = .embeddings, options: StreamOptions = []) {
        self.stream = stream
        self.start = start
        self.payload = payload
        self.output = output
        self.options = options
    }
}

/// A request to encode audio the client sends (the socket's `pushStart`, gRPC's `start`).
package struct PushRequest: Sendable, Equatable {
    package var format: PCMSampleFormat
    package var sampleRate: Int
    package var channels: Int
    package var payload: PayloadType
    package var output: OutputKind
    /// Free text for logs and status, e.g. a file name.
    package var label: String
    package var options: StreamOptions

    package init(format: PCMSampleFormat, sampleRate: Int, channels: Int, payload: PayloadType = .f32,
                 output: OutputKind = .embeddings, label: String = "", options: StreamOptions = []) {
        self.format = format
        self.sampleRate = sampleRate
        self.channels = channels
        self.payload = payload
        self.output = output
        self.label = label
        self.options = options
    }

    /// Bytes per interleaved frame: audio must come in whole multiples of this.
    package var frameBytes: Int { format.byteWidth * channels }
}

/// The checks every request passes before the engine is asked, in one place for every transport: what the model
/// offers, the ranges of docs/protocol.md, and the client's limits. A plain value, tested on its own.
package struct RequestChecks: Sendable {
    package var model: SessionModel
    package var limits: SessionLimits

    package init(model: SessionModel, limits: SessionLimits) {
        self.model = model
        self.limits = limits
    }

    /// - Parameters:
    ///   - liveStreams: the names the daemon serves.
    ///   - held: subscriptions the client holds now.
    package func check(_ request: SubscribeRequest, liveStreams: [String], held: Int) throws(SessionRefusal) {
        guard liveStreams.contains(request.stream) else {
            let known = liveStreams.sorted().joined(separator: ", ")
            throw SessionRefusal(.unknownStream, "no live stream named '\(request.stream)'"
                                 + (known.isEmpty ? " (this server has none)" : " (have: \(known))"))
        }
        try check(payload: request.payload)
        try check(options: request.options)
        guard held < limits.subscriptions else {
            throw SessionRefusal(.tooManySubscriptions, "at most \(limits.subscriptions) subscriptions per connection")
        }
    }

    /// - Parameter held: pushed streams the client holds now.
    package func check(_ request: PushRequest, held: Int) throws(SessionRefusal) {
        guard held < limits.pushes else {
            throw SessionRefusal(.tooManyPushes, "at most \(limits.pushes) pushed streams per connection")
        }
        try check(payload: request.payload)
        let rates = PCMStreamLimits.sampleRates, channels = PCMStreamLimits.channels
        guard rates.contains(request.sampleRate) else {
            throw SessionRefusal(.badAudioFormat, "sample rate \(request.sampleRate) is outside "
                                 + "\(rates.lowerBound)…\(rates.upperBound)")
        }
        guard channels.contains(request.channels) else {
            throw SessionRefusal(.badAudioFormat, "channel count \(request.channels) is outside "
                                 + "\(channels.lowerBound)…\(channels.upperBound)")
        }
        if let refusal = ClientText.refusal(request.label, field: "label") {
            throw SessionRefusal(.badAudioFormat, refusal)
        }
        try check(options: request.options)
    }

    private func check(payload: PayloadType) throws(SessionRefusal) {
        guard model.payloads.contains(payload) else {
            throw SessionRefusal(.unsupportedPayload, "payload \(payload) is not offered")
        }
    }

    /// Speech options cannot be served while voice activity is off.
    private func check(options: StreamOptions) throws(SessionRefusal) {
        guard model.voiceActivity || options.isEmpty else {
            throw SessionRefusal(.voiceActivityOff, "voice activity is off on this server (earshotd --no-vad)")
        }
    }
}
