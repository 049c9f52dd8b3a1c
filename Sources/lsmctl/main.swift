import Glibc
import ArgumentParser
import LSMStore
import StreamRuntime

/// `lsmctl`: reads, writes and inspects LSMStore stores from the command line.
struct Lsmctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lsmctl",
        abstract: "Read, write and inspect LSMStore stores.",
        discussion: """
            Keys and values are UTF-8 text, or hex with --hex (get, put, delete, scan). \
            Commands that only read (get, scan, stats, manifest, verify), and checkpoint, never \
            create a store; put, delete and batch create it when missing. checkpoint creates \
            its storage folder when missing; checkpoints, restore, verify-checkpoint and \
            cleanup require it to exist. A checkpoint storage is a folder or an S3 location, \
            s3://BUCKET/PREFIX, whose bucket must exist: credentials from AWS_ACCESS_KEY_ID, \
            AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, region from AWS_REGION, endpoint from \
            --s3-endpoint or AWS_ENDPOINT_URL (path-style addressing), else AWS's own.

            savepoint-info and verify-savepoint read a stream job's savepoint, in a folder or \
            at an S3 location.

            Exit status: 0 on success; 1 when get finds no value (it prints NOT_FOUND) or \
            verify, verify-checkpoint or verify-savepoint finds problems; 2 on an error, reported on standard \
            error as `lsmctl: <message>`; 64 for invalid command-line usage.
            """,
        subcommands: [
            Get.self, Put.self, Delete.self, Scan.self, Batch.self,
            Stats.self, Manifest.self, DumpSST.self, Verify.self,
            Checkpoint.self, Checkpoints.self, Restore.self, VerifyCheckpoint.self,
            Cleanup.self, SavepointInfoCommand.self, VerifySavepoint.self,
        ])

    /// Parses the command line and runs the chosen command. Errors end as one line on
    /// standard error and a non-zero exit status, never a trap.
    static func runMain() -> Never {
        // A closed pipe makes write(2) fail with EPIPE (reported, after closing the store)
        // instead of killing the process.
        signal(SIGPIPE, SIG_IGN)
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            try command.run()
            terminate(0)
        } catch let code as ExitCode {
            terminate(code.rawValue)
        } catch let error as LSMError {
            printError(error.description)
        } catch let error as CLIError {
            printError(error.description)
        } catch let error as StreamError {
            printError(error.description)
        } catch {
            // Help requests, usage and validation errors: ArgumentParser prints and exits.
            if String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
                exit(withError: error)
            }
            printError(String(describing: error))
        }
        terminate(Status.failure)
    }
}

Lsmctl.runMain()
