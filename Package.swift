// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "LSMStore",
    products: [
        .library(name: "LSMStore", targets: ["LSMStore"]),
        .library(name: "StreamRuntime", targets: ["StreamRuntime"]),
        // Helpers for embedders' tests: in-memory and fault-injecting file systems, a
        // temporary directory (as LevelDB's memenv and Pebble's errorfs).
        .library(name: "LSMStoreTesting", targets: ["LSMStoreTesting"]),
        // Checkpoint storage on S3-compatible object storage (its own product: the engine
        // depends on nothing beyond the toolchain and liblz4).
        .library(name: "LSMStoreS3", targets: ["LSMStoreS3"]),
        // A running job's figures over HTTP: Prometheus metrics (swift-metrics), Flink-shaped
        // REST JSON and a live page (its own product: the runtime depends on none of it).
        .library(name: "StreamMonitoring", targets: ["StreamMonitoring"]),
        .executable(name: "Bench", targets: ["Bench"]),
        .executable(name: "lsmctl", targets: ["lsmctl"]),
        .executable(name: "lsm-fuzz", targets: ["LSMFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Debian's liblz4-dev (pkg-config name `liblz4`).
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        // The little C the engine needs: hardware CRC32C (SSE4.2, selected at run time; the
        // engine falls back to Swift), syncfs(2) (Glibc hides it), thread names, cache
        // prefetch hints (also used by the stream runtime's state backend), and memory-mapped
        // reads whose SIGBUS becomes an error.
        .target(name: "CPlatform"),
        .target(name: "LSMStore", dependencies: ["CLZ4", "CPlatform"]),
        .target(name: "LSMStoreTesting", dependencies: ["LSMStore"]),
        .target(
            name: "LSMStoreS3",
            dependencies: ["LSMStore", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "StreamRuntime",
            dependencies: ["LSMStore", "CPlatform", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "StreamMonitoring",
            dependencies: [
                "StreamRuntime",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "Bench",
            dependencies: [
                "LSMStore", "LSMStoreTesting", "LSMStoreS3", "StreamRuntime", "StreamMonitoring",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "lsmctl",
            dependencies: [
                "LSMStore", "LSMStoreS3", "StreamRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Fuzz targets for every decoder: libFuzzer when built by `make fuzz`, otherwise a
        // driver that replays inputs (Tests/FuzzCorpus, replayed by `make test`).
        .executableTarget(name: "LSMFuzz", dependencies: ["LSMStore", "LSMStoreTesting", "StreamRuntime"]),
        .testTarget(
            name: "StreamRuntimeTests",
            dependencies: [
                "StreamRuntime", "LSMStore", "LSMStoreTesting", "LSMStoreS3", "S3TestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "StreamMonitoringTests",
            dependencies: ["StreamMonitoring", "StreamRuntime", "LSMStore", "LSMStoreTesting"]
        ),
        // moto's S3 server and a fault-injecting proxy, for the tests that use S3.
        .target(name: "S3TestSupport", dependencies: ["LSMStoreS3"], path: "Tests/S3TestSupport"),
        .testTarget(name: "LSMStoreS3Tests", dependencies: ["LSMStoreS3", "S3TestSupport", "LSMStoreTesting"]),
        // The command-line tools end to end: lsmctl and the Bench as child processes.
        .testTarget(
            name: "ToolTests",
            dependencies: ["LSMStore", "LSMStoreTesting"]
        ),
        .testTarget(
            name: "LSMStoreTests",
            dependencies: [
                "LSMStore", "LSMStoreTesting", "CLZ4",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
    ]
)
