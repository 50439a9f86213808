// swift-tools-version:6.1
import PackageDescription

// Layers point one way: C shims → synchronous numeric core → async shell → thin executables.
let settings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

/// The trait that builds everything but the client (on by default). A package that only needs `EarshotClient`
/// depends on Earshot with `traits: []`: then SwiftPM resolves none of the packages below that only the daemon, the
/// `earshot` command and gRPC use (examples/swift/README.md; scripts/check-swift-client.sh checks it).
let daemonTrait = "Daemon"

/// A product of a package that only the daemon, the command line, gRPC or the tests use.
func daemonProduct(_ name: String, _ package: String) -> Target.Dependency {
    .product(name: name, package: package, condition: .when(traits: [daemonTrait]))
}

/// The numeric core is optimised even in debug builds: unoptimised Swift runs its inner loops ~30× slower, which
/// would make the reference-parity and ten-minute streaming tests take minutes instead of seconds.
let numericSettings: [SwiftSetting] = settings + [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "Earshot",
    products: [
        .executable(name: "earshot", targets: ["earshot"]),
        .executable(name: "earshotd", targets: ["earshotd"]),
        .library(name: "EarshotClient", targets: ["EarshotClient"]),
    ],
    traits: [
        .trait(name: daemonTrait, description: "earshotd, the earshot command and gRPC (off: the client alone)"),
        .default(enabledTraits: [daemonTrait]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The gRPC service (issue #14); generated code is committed (tools/grpc/generate.sh), no build plugin.
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        // SHA-256 for `earshot inspect`'s fingerprint (already in the graph through gRPC's certificates).
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // MARK: C shims (a module map and a header each)
        .systemLibrary(name: "CAlsa", path: "Sources/CAlsa", pkgConfig: "alsa",
                       providers: [.apt(["libasound2-dev"])]),
        .systemLibrary(name: "CPulseSimple", path: "Sources/CPulseSimple",
                       providers: [.apt(["libpulse-dev"])]),
        .systemLibrary(name: "CSampleRate", path: "Sources/CSampleRate", pkgConfig: "samplerate",
                       providers: [.apt(["libsamplerate0-dev"])]),
        .systemLibrary(name: "CSndFile", path: "Sources/CSndFile", pkgConfig: "sndfile",
                       providers: [.apt(["libsndfile1-dev"])]),
        // No pkgConfig: libdnnl-dev ships no .pc file; headers and library are on the default paths.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),

        // The matrix-product kernels: C for per-function instruction-set targets (AVX2 + FMA beside a portable
        // fallback, picked at run time), which Swift cannot express. Optimised in every configuration.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),

        // MARK: Synchronous numeric core (no async, no logging)
        // Bit-level number helpers every layer shares: binary16/bfloat16 ↔ binary32 and SplitMix64. No dependencies.
        // No `-O` (an unsafe flag, which SwiftPM refuses in a product a package depends on by version: the client
        // needs NumberBits through WireProtocol): every function is `@inlinable`, so the optimised callers' loops
        // compile it with their own settings.
        .target(name: "NumberBits", swiftSettings: settings),
        .target(name: "AudioCore", swiftSettings: settings),
        // Audio files in every format libsndfile reads, behind one reader (AudioFileReader); PCM/float WAV through
        // AudioCore's own WAVReader. Apart from AudioCore so that the client library does not link libsndfile.
        .target(name: "AudioFiles", dependencies: ["AudioCore", "CSndFile"], swiftSettings: settings),
        .target(name: "Kernels", dependencies: ["CKernels", "CDNNL", "NumberBits"], swiftSettings: numericSettings),
        .target(name: "Checkpoint", dependencies: ["NumberBits"], swiftSettings: settings),
        .target(name: "Resampling", dependencies: ["CSampleRate"], swiftSettings: settings),
        .target(name: "Frontend", dependencies: ["Kernels"], swiftSettings: numericSettings),
        .target(name: "Gemma4Audio", dependencies: ["Kernels", "Checkpoint", "Frontend", "NumberBits"],
                swiftSettings: numericSettings),
        .target(name: "VoiceActivity", dependencies: ["Kernels", "Checkpoint"], swiftSettings: numericSettings),
        // Echo, the second model family (issue #24): the seed document's AudioEncoder, windowed (not causal).
        .target(name: "EchoAudio", dependencies: ["Kernels", "Checkpoint", "Frontend", "NumberBits"],
                swiftSettings: numericSettings),

        // MARK: Shared vocabulary and policies (no dependencies)
        // Token flags, event kinds, delivery options and the typed status: what the scheduler, both protocols and the
        // clients agree on.
        .target(name: "EarshotTypes", dependencies: ["NumberBits"], swiftSettings: settings),
        // The drop-oldest queue policy, written once for the live backlog, the send queues and capture.
        .target(name: "QueuePolicies", swiftSettings: settings),
        // The version (the VERSION file) and git revision, generated at build time: `--version`, status, metrics.
        .target(name: "BuildInfo", swiftSettings: settings, plugins: ["BuildInfoPlugin"]),
        .executableTarget(name: "BuildInfoGenerator", swiftSettings: settings),
        .plugin(name: "BuildInfoPlugin", capability: .buildTool(), dependencies: ["BuildInfoGenerator"]),

        // MARK: Async shell
        .target(name: "AudioCapture", dependencies: ["CAlsa", "CPulseSimple", "AudioCore", "AudioFiles", "Resampling",
                                                  "QueuePolicies"],
                swiftSettings: settings),

        // The encoding scheduler: compute threads, streams, fan-out, token timeline, queue policies, clients and
        // the typed status. No NIO, no wire types: every transport is an adapter on top.
        // Optimised in debug builds too, like the numeric core: its block path runs once per block per stream, and
        // the allocation tests (Tests/EncodingSchedulerTests/AllocationTests.swift) count what the optimised code
        // allocates — unoptimised generic code boxes values the shipped build keeps on the stack.
        .target(name: "EncodingScheduler", dependencies: [
            "EarshotTypes", "QueuePolicies", "AudioCore", "Gemma4Audio", "EchoAudio", "Kernels", "Resampling", "VoiceActivity",
            daemonProduct("CoreMetrics", "swift-metrics"),
        ], swiftSettings: numericSettings),

        // MARK: Daemon, protocol and client
        // Every network listener's connection cap and deadlines (gRPC, gRPC health, metrics, the live view), and the TLS
        // files and bearer-token check the TCP listeners share: one NIO piece.
        .target(name: "ConnectionAdmission", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            daemonProduct("NIOSSL", "swift-nio-ssl"),
            daemonProduct("Logging", "swift-log"),
        ], swiftSettings: settings),
        .target(name: "WireProtocol", dependencies: ["EarshotTypes", "AudioCore"], swiftSettings: settings),
        // The Unix-socket transport (SwiftNIO) and the Prometheus endpoint: thin adapters over the engine.
        // The session layer: one client's admission, request checks, subscriptions, pushes and send queue, for
        // every transport; the transports below are framing adapters over it.
        .target(name: "ClientSessions", dependencies: [
            "EncodingScheduler", "EarshotTypes", "QueuePolicies", "AudioCore",
        ], swiftSettings: settings),
        .target(name: "EarshotServer", dependencies: [
            "ClientSessions", "ConnectionAdmission", "EncodingScheduler", "EarshotTypes", "WireProtocol",
            daemonProduct("CoreMetrics", "swift-metrics"),
            daemonProduct("Prometheus", "swift-prometheus"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            daemonProduct("Logging", "swift-log"),
            daemonProduct("ServiceLifecycle", "swift-service-lifecycle"),
        ], swiftSettings: settings),
        .target(name: "EarshotClient", dependencies: [
            "WireProtocol", "EarshotTypes", "AudioCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], swiftSettings: settings),
        // gRPC beside the socket: the service against a narrow backend protocol, TLS, bearer token, health.
        .target(name: "EarshotGRPC", dependencies: [
            "ClientSessions", "ConnectionAdmission", "EarshotTypes", "AudioCore",
            daemonProduct("GRPCCore", "grpc-swift-2"),
            daemonProduct("GRPCNIOTransportHTTP2Posix", "grpc-swift-nio-transport"),
            daemonProduct("GRPCProtobuf", "grpc-swift-protobuf"),
            daemonProduct("SwiftProtobuf", "swift-protobuf"),
            daemonProduct("NIOSSL", "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            daemonProduct("NIOHTTP2", "swift-nio-http2"),
            daemonProduct("NIOHPACK", "swift-nio-http2"),
            daemonProduct("Logging", "swift-log"),
            daemonProduct("ServiceLifecycle", "swift-service-lifecycle"),
        ], exclude: ["Generated/README.md"], swiftSettings: settings),
        // The live view (issue #23): a web page and WebSocket feeds over HTTP, beside the socket and gRPC. Its page
        // and scripts (Assets/) are compiled into the binary by LiveViewAssetsPlugin: the .deb ships binaries only.
        .target(name: "LiveView", dependencies: [
            "ClientSessions", "ConnectionAdmission", "EarshotTypes", "QueuePolicies", "WireProtocol",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            daemonProduct("NIOSSL", "swift-nio-ssl"),
            daemonProduct("Logging", "swift-log"),
            daemonProduct("ServiceLifecycle", "swift-service-lifecycle"),
        ], exclude: ["Assets"], swiftSettings: settings, plugins: ["LiveViewAssetsPlugin"]),
        .executableTarget(name: "LiveViewAssetsGenerator", swiftSettings: settings),
        .plugin(name: "LiveViewAssetsPlugin", capability: .buildTool(), dependencies: ["LiveViewAssetsGenerator"]),
        .target(name: "EarshotDaemon", dependencies: [
            "ClientSessions", "ConnectionAdmission", "EarshotServer", "EncodingScheduler", "EarshotGRPC", "EarshotTypes", "AudioCapture", "Gemma4Audio",
            "EchoAudio", "LiveView",
            "WireProtocol", "VoiceActivity", "QueuePolicies", "BuildInfo",
            daemonProduct("Logging", "swift-log"),
            daemonProduct("ServiceLifecycle", "swift-service-lifecycle"),
            daemonProduct("UnixSignals", "swift-service-lifecycle"),
            daemonProduct("ArgumentParser", "swift-argument-parser"),
        ], swiftSettings: settings),

        // MARK: Executables (argument parsing, then a library call)
        .target(name: "EarshotCLI", dependencies: [
            "AudioCore", "AudioFiles", "Resampling", "Frontend", "Kernels", "Gemma4Audio", "EchoAudio", "Checkpoint",
            "VoiceActivity", "EarshotClient", "AudioCapture", "EarshotGRPC", "EarshotTypes", "BuildInfo",
            daemonProduct("ArgumentParser", "swift-argument-parser"),
            daemonProduct("Crypto", "swift-crypto"),
        ], swiftSettings: settings),
        .executableTarget(name: "earshot", dependencies: ["EarshotCLI"], swiftSettings: settings),
        .executableTarget(name: "earshotd", dependencies: [
            "EarshotDaemon", daemonProduct("Logging", "swift-log"),
        ], swiftSettings: settings),
        .executableTarget(name: "EarshotExample", dependencies: ["EarshotClient"], path: "examples/swift/EarshotExample",
                          swiftSettings: settings),

        // MARK: Tests
        // Test support: the test executable's allocation functions, counting per thread (allocation_counter.h), and
        // the Swift API the "allocates nothing" tests use. Only test targets depend on them. A C file beside the
        // header, as in CKernels: `malloc` and its kin can only be defined in C.
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        .target(name: "AllocationCounting", dependencies: ["CAllocationCounter"], path: "Tests/AllocationCounting",
                swiftSettings: settings),
        // Raw loopback TCP clients (connect, say nothing, see the server close) for the tests of every TCP listener.
        .target(name: "LoopbackTestSupport", path: "Tests/LoopbackTestSupport", swiftSettings: settings),
        .testTarget(name: "NumberBitsTests", dependencies: ["NumberBits"], swiftSettings: settings),
        .testTarget(name: "AudioCoreTests", dependencies: ["AudioCore"], swiftSettings: settings),
        .testTarget(name: "AudioFilesTests", dependencies: ["AudioFiles", "AudioCore"], swiftSettings: settings),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"], swiftSettings: settings),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels"], swiftSettings: settings),
        .testTarget(name: "FrontendTests", dependencies: ["Frontend", "AudioCore"], swiftSettings: settings),
        .testTarget(name: "Gemma4AudioTests", dependencies: [
            "Gemma4Audio", "Checkpoint", "Kernels", "AudioCore", "Resampling", "NumberBits", "AllocationCounting",
        ],
                    swiftSettings: settings),
        .testTarget(name: "EchoAudioTests", dependencies: ["EchoAudio", "Frontend", "Checkpoint", "AudioCore"],
                    swiftSettings: settings),
        .testTarget(name: "VoiceActivityTests", dependencies: ["VoiceActivity", "Checkpoint", "AudioCore",
                                                           "AllocationCounting"],
                    swiftSettings: settings),
        .testTarget(name: "ResamplingTests", dependencies: ["Resampling", "NumberBits"], swiftSettings: settings),
        .testTarget(name: "WireProtocolTests", dependencies: ["WireProtocol", "NumberBits"], swiftSettings: settings),
        .testTarget(name: "QueuePoliciesTests", dependencies: ["QueuePolicies"], swiftSettings: settings),
        .testTarget(name: "EncodingSchedulerTests", dependencies: [
            "EncodingScheduler", "EarshotTypes", "Gemma4Audio", "AudioCore", "Resampling", "VoiceActivity",
            "QueuePolicies", "AllocationCounting", "Frontend", "EchoAudio",
        ], swiftSettings: settings),
        .testTarget(name: "ConnectionAdmissionTests", dependencies: [
            "ConnectionAdmission", "LoopbackTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ], swiftSettings: settings),
        .testTarget(name: "ClientSessionsTests", dependencies: [
            "ClientSessions", "EarshotTypes", "EncodingScheduler", "Gemma4Audio", "AudioCore", "QueuePolicies",
        ], swiftSettings: settings),
        .testTarget(name: "EarshotServerTests", dependencies: [
            "EarshotServer", "ClientSessions", "EncodingScheduler", "EarshotTypes", "WireProtocol", "Gemma4Audio",
            "QueuePolicies", "AudioCore",
        ], swiftSettings: settings),
        .testTarget(name: "EarshotDaemonTests", dependencies: [
            "EarshotDaemon", "EarshotClient", "EarshotCLI", "WireProtocol", "Gemma4Audio", "AudioCore", "AudioFiles",
            "Resampling", "Frontend", "VoiceActivity", "earshotd", "EarshotGRPC",
            daemonProduct("GRPCCore", "grpc-swift-2"), "NumberBits", "QueuePolicies", "AudioCapture", "BuildInfo",
            "EncodingScheduler", "EarshotServer", "ConnectionAdmission", "LiveView", "LoopbackTestSupport",
            daemonProduct("ServiceLifecycle", "swift-service-lifecycle"),
            daemonProduct("ServiceLifecycleTestKit", "swift-service-lifecycle"),
            daemonProduct("Logging", "swift-log"), daemonProduct("NIOCore", "swift-nio"),
        ], swiftSettings: settings),
        .testTarget(name: "EarshotGRPCTests", dependencies: [
            "EarshotGRPC", "ClientSessions", "ConnectionAdmission", "EncodingScheduler", "Gemma4Audio", "QueuePolicies",
            "EarshotTypes", "AudioCore", "LoopbackTestSupport",
            daemonProduct("GRPCCore", "grpc-swift-2"),
            daemonProduct("GRPCNIOTransportHTTP2Posix", "grpc-swift-nio-transport"),
            daemonProduct("ServiceLifecycle", "swift-service-lifecycle"),
            daemonProduct("Logging", "swift-log"),
        ], swiftSettings: settings),
        .testTarget(name: "LiveViewTests", dependencies: [
            "LiveView", "ClientSessions", "EarshotTypes", "EncodingScheduler", "Gemma4Audio", "WireProtocol",
            "LoopbackTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            daemonProduct("Logging", "swift-log"),
            daemonProduct("ServiceLifecycle", "swift-service-lifecycle"),
        ], swiftSettings: settings),
        .testTarget(name: "AudioCaptureTests", dependencies: [
            "AudioCapture", "AudioCore", "NumberBits", "QueuePolicies", "Resampling",
        ],
                    swiftSettings: settings),
    ]
)
