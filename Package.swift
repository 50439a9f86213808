// swift-tools-version:6.1
import PackageDescription

// Layers point one way: C shims → synchronous numeric core → async shell → thin executables.
let settings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

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
    ],
    targets: [
        // MARK: C shims (a module map and a header each)
        .systemLibrary(name: "CAlsa", path: "Sources/CAlsa", pkgConfig: "alsa",
                       providers: [.apt(["libasound2-dev"])]),
        .systemLibrary(name: "CPulseSimple", path: "Sources/CPulseSimple",
                       providers: [.apt(["libpulse-dev"])]),
        .systemLibrary(name: "CSampleRate", path: "Sources/CSampleRate", pkgConfig: "samplerate",
                       providers: [.apt(["libsamplerate0-dev"])]),
        // No pkgConfig: libdnnl-dev ships no .pc file; headers and library are on the default paths.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),

        // The matrix-product kernels: C for per-function instruction-set targets (AVX2 + FMA beside a portable
        // fallback, picked at run time), which Swift cannot express. Optimised in every configuration.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),

        // MARK: Synchronous numeric core (no async, no logging)
        // Bit-level number helpers every layer shares: binary16/bfloat16 ↔ binary32 and SplitMix64. No dependencies.
        .target(name: "NumberBits", swiftSettings: numericSettings),
        .target(name: "AudioCore", swiftSettings: settings),
        .target(name: "Kernels", dependencies: ["CKernels", "CDNNL", "NumberBits"], swiftSettings: numericSettings),
        .target(name: "Checkpoint", dependencies: ["NumberBits"], swiftSettings: settings),
        .target(name: "Resampling", dependencies: ["CSampleRate"], swiftSettings: settings),
        .target(name: "Frontend", dependencies: ["Kernels"], swiftSettings: numericSettings),
        .target(name: "Gemma4Audio", dependencies: ["Kernels", "Checkpoint", "Frontend", "NumberBits"],
                swiftSettings: numericSettings),
        .target(name: "VoiceActivity", dependencies: ["Kernels", "Checkpoint"], swiftSettings: numericSettings),

        // MARK: Shared vocabulary and policies (no dependencies)
        // Token flags, event kinds, delivery options and the typed status: what the scheduler, both protocols and the
        // clients agree on.
        .target(name: "EarshotTypes", swiftSettings: settings),
        // The drop-oldest queue policy, written once for the live backlog, the send queues and capture.
        .target(name: "QueuePolicies", swiftSettings: settings),
        // The version (the VERSION file) and git revision, generated at build time: `--version`, status, metrics.
        .target(name: "BuildInfo", swiftSettings: settings, plugins: ["BuildInfoPlugin"]),
        .executableTarget(name: "BuildInfoGenerator", swiftSettings: settings),
        .plugin(name: "BuildInfoPlugin", capability: .buildTool(), dependencies: ["BuildInfoGenerator"]),

        // MARK: Async shell
        .target(name: "AudioCapture", dependencies: ["CAlsa", "CPulseSimple", "AudioCore", "Resampling", "QueuePolicies"],
                swiftSettings: settings),

        // The encoding scheduler: compute threads, streams, fan-out, token timeline, queue policies, clients and
        // the typed status. No NIO, no wire types: every transport is an adapter on top.
        .target(name: "EncodingScheduler", dependencies: [
            "EarshotTypes", "QueuePolicies", "AudioCore", "Gemma4Audio", "Kernels", "Resampling", "VoiceActivity",
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ], swiftSettings: settings),

        // MARK: Daemon, protocol and client
        .target(name: "WireProtocol", dependencies: ["EarshotTypes", "AudioCore", "NumberBits"], swiftSettings: settings),
        // The Unix-socket transport (SwiftNIO) and the Prometheus endpoint: thin adapters over the engine.
        .target(name: "EarshotServer", dependencies: [
            "EncodingScheduler", "EarshotTypes", "QueuePolicies", "WireProtocol", "AudioCore", "Resampling",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: settings),
        .target(name: "EarshotClient", dependencies: [
            "WireProtocol", "EarshotTypes", "AudioCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], swiftSettings: settings),
        // gRPC beside the socket: the service against a narrow backend protocol, TLS, bearer token, health.
        .target(name: "EarshotGRPC", dependencies: [
            "WireProtocol", "EarshotTypes", "QueuePolicies", "AudioCore",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], exclude: ["Generated/README.md"], swiftSettings: settings),
        .target(name: "EarshotDaemon", dependencies: [
            "EarshotServer", "EncodingScheduler", "EarshotGRPC", "EarshotTypes", "AudioCapture", "Gemma4Audio",
            "WireProtocol", "VoiceActivity", "BuildInfo",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: settings),

        // MARK: Executables (argument parsing, then a library call)
        .target(name: "EarshotCLI", dependencies: [
            "AudioCore", "Resampling", "Gemma4Audio", "VoiceActivity", "EarshotClient", "AudioCapture", "EarshotGRPC",
            "WireProtocol", "BuildInfo",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: settings),
        .executableTarget(name: "earshot", dependencies: ["EarshotCLI"], swiftSettings: settings),
        .executableTarget(name: "earshotd", dependencies: [
            "EarshotDaemon", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: settings),
        .executableTarget(name: "EarshotExample", dependencies: ["EarshotClient"], path: "examples/swift/EarshotExample",
                          swiftSettings: settings),

        // MARK: Tests
        .testTarget(name: "NumberBitsTests", dependencies: ["NumberBits"], swiftSettings: settings),
        .testTarget(name: "AudioCoreTests", dependencies: ["AudioCore"], swiftSettings: settings),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"], swiftSettings: settings),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels"], swiftSettings: settings),
        .testTarget(name: "FrontendTests", dependencies: ["Frontend", "AudioCore"], swiftSettings: settings),
        .testTarget(name: "Gemma4AudioTests", dependencies: ["Gemma4Audio", "AudioCore", "Resampling", "NumberBits"],
                    swiftSettings: settings),
        .testTarget(name: "VoiceActivityTests", dependencies: ["VoiceActivity", "Checkpoint", "AudioCore", "EarshotCLI"],
                    swiftSettings: settings),
        .testTarget(name: "ResamplingTests", dependencies: ["Resampling", "NumberBits"], swiftSettings: settings),
        .testTarget(name: "WireProtocolTests", dependencies: ["WireProtocol", "NumberBits"], swiftSettings: settings),
        .testTarget(name: "QueuePoliciesTests", dependencies: ["QueuePolicies"], swiftSettings: settings),
        .testTarget(name: "EncodingSchedulerTests", dependencies: [
            "EncodingScheduler", "EarshotTypes", "Gemma4Audio", "AudioCore", "Resampling", "VoiceActivity",
        ], swiftSettings: settings),
        .testTarget(name: "EarshotServerTests", dependencies: [
            "EarshotServer", "EncodingScheduler", "WireProtocol", "Gemma4Audio", "AudioCore", "Resampling",
            "VoiceActivity",
        ], swiftSettings: settings),
        .testTarget(name: "EarshotDaemonTests", dependencies: [
            "EarshotDaemon", "EarshotClient", "EarshotCLI", "WireProtocol", "Gemma4Audio", "AudioCore", "Resampling",
            "Frontend", "VoiceActivity", "earshotd", "EarshotGRPC",
            .product(name: "GRPCCore", package: "grpc-swift-2"), "NumberBits", "BuildInfo",
        ], swiftSettings: settings),
        .testTarget(name: "EarshotGRPCTests", dependencies: [
            "EarshotGRPC", "WireProtocol", "AudioCore", "EarshotCLI",
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: settings),
        .testTarget(name: "AudioCaptureTests", dependencies: ["AudioCapture", "AudioCore", "NumberBits"],
                    swiftSettings: settings),
    ]
)
