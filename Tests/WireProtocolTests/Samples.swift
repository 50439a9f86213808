@testable import WireProtocol

/// One of every client message.
let sampleClientMessages: [ClientMessage] = [
    .hello(Hello(versions: 1...3, clientName: "tests ✓")),
    .subscribe(Subscribe(request: 7, stream: "mic", start: .oldest, payload: .bf16, output: .encoder)),
    .subscribe(Subscribe(request: 8, stream: "mic", options: [.speechOnly])),
    .unsubscribe(stream: 3),
    .pushStart(PushStart(request: 9, format: .s16le, sampleRate: 48000, channels: 2, payload: .f16,
                         output: .embeddings, label: "speech.wav")),
    .pushStart(PushStart(request: 10, format: .f32le, sampleRate: 16000, channels: 1, label: "",
                         options: [.speechEvents])),
    .pushAudio(stream: 4, pcm: ArraySlice((0..<200).map { UInt8(truncatingIfNeeded: $0 * 7) })),
    .pushAudio(stream: 4, pcm: []),
    .pushEnd(stream: 4),
    .ping(nonce: 0xDEAD_BEEF_0123_4567),
    .status(request: 12),
]

let sampleValues: [Float] = [0, -0, 1, -1.5, 3.14159, 65504, -1e-3, 1e-7, 0.333333]

/// One of every server message.
let sampleServerMessages: [ServerMessage] = [
    .welcome(Welcome(version: 1, serverName: "earshotd test", modelID: "tiny-f32", embeddingWidth: 64,
                     encoderWidth: 48, payloadTypes: [.f32, .f16, .bf16], sampleRate: 16000, samplesPerToken: 640,
                     tokensPerSecond: 25, blockTokens: 12, maxFrameLength: 1 << 20, maxPushedStreams: 4,
                     historyTokens: 750, streams: ["mic", "line"])),
    .subscribed(request: 7, stream: 1, name: "mic", firstToken: 42),
    .pushStarted(request: 9, stream: 2),
    .embedding(embedding(payload: .f32)),
    .embedding(embedding(payload: .f16)),
    .embedding(embedding(payload: .bf16)),
    .event(StreamEvent(stream: 1, kind: .lagged, at: 17, count: 5, message: "")),
    .event(StreamEvent(stream: 1, kind: .deviceLost, at: 160_000, count: 0, message: "snd_pcm_readi: No such device")),
    .event(StreamEvent(stream: 2, kind: .speechStart, at: 4640)),
    .event(StreamEvent(stream: 2, kind: .speechEnd, at: 48096)),
    .error(ErrorMessage(request: 0, code: .frameTooLarge, fatal: true, message: "too big")),
    .error(ErrorMessage(request: 3, rawCode: 999, fatal: false, message: "from the future")),
    .pong(nonce: 5, serverTimeNanoseconds: 1_700_000_000_000_000_000),
    .status(request: 12, json: #"{"streams":[{"name":"mic"}]}"#),
]

func embedding(payload: PayloadType) -> Embedding {
    let header = EmbeddingHeader(stream: 1, token: 99, firstSample: 63_360, captureTimeNanoseconds: -5,
                                 flags: [.discontinuity, .final, .speech], payload: payload, output: .embeddings)
    let frame = sampleValues.withUnsafeBufferPointer { Embedding.encode(header, values: $0) }
    var decoder = FrameDecoder(maxFrameLength: 1 << 16)
    decoder.append(frame)
    guard case .embedding(let e) = try! ServerMessage(frame: decoder.next()!) else { fatalError("not an embedding") }
    return e
}
