import EarshotGRPC
import EarshotServer
import EarshotTypes
import EncodingScheduler
import Synchronization
import WireProtocol

/// The engine behind the gRPC service and the live view's WebSocket feeds (one backend each, told apart in status by
/// `transport`): subscriptions on the live streams' hubs, pushed streams on the scheduler, all admitted through the
/// engine's one client registry (the socket's clients, gRPC calls and WebSocket feeds share `max-clients`).
/// Tokens and events reach the call's queue through the same sink and subscriber contracts as the socket's.
final class EngineBackend: EmbeddingBackend {
    private let engine: Engine
    let model: BackendModel
    private let status: @Sendable () -> DaemonStatus
    /// How status names this backend's clients.
    private let transport: DaemonStatus.Transport

    init(engine: Engine, payloads: [PayloadType], transport: DaemonStatus.Transport = .grpc,
         status: @escaping @Sendable () -> DaemonStatus) {
        self.engine = engine
        self.transport = transport
        let c = engine.model.configuration
        model = BackendModel(id: engine.modelID, embeddingWidth: c.textHiddenSize, encoderWidth: c.outputProjectionSize,
                             payloads: Set(payloads), voiceActivity: engine.voiceActivityIsOn)
        self.status = status
    }

    func statusJSON() -> String { StatusJSON.encode(status()) }

    func subscribe(_ request: SubscribeParameters, receiver: any StreamReceiver) throws(BackendRefusal)
        -> any BackendSubscription {
        try check(payload: request.payload, options: request.options)
        guard let stream = engine.liveStream(named: request.stream) else {
            throw BackendRefusal(.unknownStream, "no live stream named '\(request.stream)'")
        }
        let subscriber = ReceiverSubscriber(receiver: receiver, output: request.output, options: request.options,
                                            engine: engine)
        let name = "\(transport.rawValue) Subscribe \(request.stream)"
        let client = try admit(receiver) { queued, dropped in
            ClientRegistry.Activity(name: name, subscriptions: 1, queuedFrames: queued, droppedFrames: dropped)
        }
        let first = stream.hub.subscribe(subscriber, start: request.start)
        return HubSubscription(stream: request.stream, firstToken: first, hub: stream.hub, subscriber: subscriber,
                               client: client)
    }

    func startPush(_ request: PushParameters, receiver: any StreamReceiver) throws(BackendRefusal) -> any PushedStream {
        try check(payload: request.payload, options: request.options)
        let name = "\(transport.rawValue) Push"
        let client = try admit(receiver) { queued, _ in
            ClientRegistry.Activity(name: name, pushes: 1, queuedFrames: queued)
        }
        let engine = self.engine
        let sink = PushedStreamSink(receiver: CallPushReceiver(receiver: receiver, output: request.output, engine: engine),
                                    options: request.options) { stream in
            if let stream { engine.retire(stream) }
            client.leave()
        }
        let label = request.label.isEmpty ? "\(transport.rawValue) push" : "\(transport.rawValue) push \(request.label)"
        do {
            let scheduled = try engine.startPush(label: label, inputRate: request.sampleRate, sink: sink)
            sink.attach(scheduled)
            return EnginePush(scheduled: scheduled, sink: sink, client: client, engine: engine,
                              decoder: PushedAudioDecoder(format: request.format.sampleFormat,
                                                          channels: request.channels))
        } catch {
            client.leave()
            throw BackendRefusal(.badAudioFormat, "\(error)")
        }
    }

    /// Counted under the socket's names for the same refusals.
    func callRefused(_ refusal: BackendRefusal) {
        switch refusal.reason {
        case .limitReached: engine.clients.refused(reason: ErrorCode.tooManyClients.name)
        case .shuttingDown: engine.clients.refused(reason: ErrorCode.shuttingDown.name)
        default: engine.clients.refused(reason: ErrorCode.internalError.name)
        }
    }

    private func check(payload: PayloadType, options: StreamOptions) throws(BackendRefusal) {
        guard model.payloads.contains(payload) else {
            throw BackendRefusal(.unsupported, "payload \(payload) is not offered")
        }
        if options.wantsSpeechEvents && !engine.voiceActivityIsOn {
            throw BackendRefusal(.voiceActivityOff, "speech options need voice activity, which this daemon runs without")
        }
    }

    /// A place in the client registry for a call whose queue is `receiver`; `activity` describes the call from its
    /// queue's length and dropped tokens.
    private func admit(_ receiver: any StreamReceiver,
                       _ activity: @escaping @Sendable (_ queued: Int, _ dropped: UInt64) -> ClientRegistry.Activity)
        throws(BackendRefusal) -> RegisteredClient {
        let queue = receiver as? CallOutbox
        do {
            let id = try engine.clients.admit(transport: transport, peer: "\(transport.rawValue) call") { [weak queue] in
                activity(queue?.pendingCount ?? 0, queue?.droppedTotal ?? 0)
            }
            return RegisteredClient(id: id, engine: engine, queue: queue)
        } catch {
            throw BackendRefusal(.limitReached, "the server already serves \(engine.clients.maxClients) clients")
        }
    }
}

/// A gRPC call's place in the client registry, left once (whichever of end and cancel comes first).
final class RegisteredClient: Sendable {
    private let id: Int
    private let engine: Engine
    /// The call's queue, for the live tokens it dropped (they join the life-time lagged total).
    private weak let queue: CallOutbox?
    private let gone = Atomic(false)

    init(id: Int, engine: Engine, queue: CallOutbox?) {
        self.id = id
        self.engine = engine
        self.queue = queue
    }

    func leave() {
        if !gone.exchange(true, ordering: .relaxed) { engine.clients.left(id, droppedFrames: queue?.droppedTotal ?? 0) }
    }
}

/// A token's row of an encoded block, encoded when the call's writer takes it: that moment is the token's send, so
/// its latency is recorded there (replayed history is not).
struct RowValues: TokenValues {
    let record: TokenRecord
    let output: OutputKind
    let replayed: Bool
    let engine: Engine

    var width: Int { output == .embeddings ? record.block.tokens.embeddingWidth : record.block.tokens.encoderWidth }

    func encoded(as payload: PayloadType) -> [UInt8] {
        var writer = ByteWriter(capacity: width * payload.byteWidth)
        record.withValues(output) { payload.encode($0, into: &writer) }
        if !replayed { engine.tokenSent(record.info) }
        return writer.bytes
    }
}

extension BackendToken {
    init(_ record: TokenRecord, output: OutputKind, replayed: Bool, engine: Engine) {
        let info = record.info
        self.init(index: info.index, firstSample: info.firstSample, captureTimeNanoseconds: info.captureTimeNanoseconds,
                  flags: info.flags, values: RowValues(record: record, output: output, replayed: replayed,
                                                       engine: engine))
    }
}

/// One gRPC subscription on a live stream's hub.
final class ReceiverSubscriber: StreamSubscriber {
    private let receiver: any StreamReceiver
    private let output: OutputKind
    let options: StreamOptions
    private let engine: Engine

    init(receiver: any StreamReceiver, output: OutputKind, options: StreamOptions, engine: Engine) {
        self.receiver = receiver
        self.output = output
        self.options = options
        self.engine = engine
    }

    func receive(_ token: TokenRecord, replayed: Bool) -> Bool {
        receiver.live(BackendToken(token, output: output, replayed: replayed, engine: engine))
    }

    func receive(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
        receiver.event(BackendEvent(kind: kind, at: at, count: count, message: message))
    }
}

struct HubSubscription: BackendSubscription {
    let stream: String
    let firstToken: UInt64
    let hub: StreamHub
    let subscriber: ReceiverSubscriber
    let client: RegisteredClient

    func cancel() {
        hub.remove(subscriber)
        client.leave()
    }

    func resume(room: Int) {
        hub.resume(subscriber, room: room)
    }
}


/// A gRPC push's queue: tokens and events to the call's receiver (its queue always takes them).
final class CallPushReceiver: PushedStreamReceiver {
    private let receiver: any StreamReceiver
    private let output: OutputKind
    private let engine: Engine

    init(receiver: any StreamReceiver, output: OutputKind, engine: Engine) {
        self.receiver = receiver
        self.output = output
        self.engine = engine
    }

    func pushed(_ token: TokenRecord, credit: ScheduledStream) -> Bool {
        receiver.pushed(BackendToken(token, output: output, replayed: false, engine: engine), credit: credit)
        return true
    }

    func event(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
        receiver.event(BackendEvent(kind: kind, at: at, count: count, message: message))
    }
}

/// The call's side of a gRPC push.
final class EnginePush: PushedStream {
    private let scheduled: ScheduledStream
    private let sink: PushedStreamSink
    private let client: RegisteredClient
    private let engine: Engine
    private let decoder: Mutex<PushedAudioDecoder>

    init(scheduled: ScheduledStream, sink: PushedStreamSink, client: RegisteredClient, engine: Engine,
         decoder: PushedAudioDecoder) {
        self.scheduled = scheduled
        self.sink = sink
        self.client = client
        self.engine = engine
        self.decoder = Mutex(decoder)
    }

    func append(_ pcm: [UInt8]) async throws {
        guard !pcm.isEmpty else { return }
        let mono = decoder.withLock { $0.mono(pcm[...]) }
        await scheduled.submitPushed(mono)   // backpressure: waits while the budget is used up
        try Task.checkCancellation()
    }

    func finish() { scheduled.finish() }

    /// Harmless after the end: the sink has let go of the stream then.
    func cancel() {
        scheduled.cancel()
        if sink.detach() != nil { engine.retire(scheduled) }
        client.leave()
    }
}
