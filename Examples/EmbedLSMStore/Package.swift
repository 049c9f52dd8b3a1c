// swift-tools-version:6.1
// A separate package that depends on the LSMStore product alone, as an embedding
// application would. `make embed-check` builds and runs it.
import PackageDescription

let package = Package(
    name: "EmbedLSMStore",
    dependencies: [
        .package(name: "LSMStore", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "EmbedLSMStore",
            dependencies: [.product(name: "LSMStore", package: "LSMStore")]
        ),
    ]
)
