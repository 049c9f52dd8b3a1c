// swift-tools-version:6.1
// Microbenchmarks for LSMStore, run with ordo-one/benchmark:
//   cd Benchmarks && swift package benchmark
// A separate package so the benchmark dependency (and its malloc interposer) stays out
// of the main package. It depends on the parent package by path and uses only its
// public `LSMStore` product.
import PackageDescription

let package = Package(
    name: "LSMStoreBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "LSMStore", path: ".."),
        // MallocInterposer only: the malloc metrics come from the malloc-interposer package
        // (no jemalloc needed) and the RuntimeInterposer trait, whose package is not
        // available here, stays off.
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "LSMStoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "LSMStore", package: "LSMStore"),
            ],
            path: "Benchmarks/LSMStoreBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ]
)
