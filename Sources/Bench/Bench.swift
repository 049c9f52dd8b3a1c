import ArgumentParser

/// `swift run -c release Bench`: the project's benchmarks. Without a subcommand it runs the
/// standard experiment: full against incremental checkpoints on the keyed CSV job.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "Bench",
        abstract: "Benchmarks for LSMStore and its checkpoints.",
        subcommands: [
            ExperimentCommand.self, StoreBenchmark.self, CheckpointBenchmark.self, JobBenchmark.self, RMWBenchmark.self,
            CheckCommand.self,
        ],
        defaultSubcommand: ExperimentCommand.self
    )
}
