import ArgumentParser

/// `swift run -c release Bench`: the project's benchmarks. Until the checkpoint experiment
/// lands, running it without a subcommand runs the store benchmark.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "Bench",
        abstract: "Benchmarks for LSMStore and its checkpoints.",
        subcommands: [StoreBenchmark.self, CheckpointBenchmark.self, JobBenchmark.self],
        defaultSubcommand: StoreBenchmark.self
    )
}
