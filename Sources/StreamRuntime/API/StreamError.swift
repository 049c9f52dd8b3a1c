/// Errors of the stream runtime.
public enum StreamError: Error, CustomStringConvertible, Sendable {
    /// The job's configuration or graph cannot run.
    case invalidJob(String)
    /// Stored state could not be decoded.
    case stateCorrupt(String)
    /// A failure injected for testing (`FailureInjection`).
    case injectedFailure(record: Int)
    /// The job failed and the restart strategy gave up; `cause` is the last failure.
    case jobFailed(attempts: Int, cause: String)
    /// A checkpoint or restore problem.
    case checkpoint(String)
    /// A state or checkpoint directory cannot be used (leftovers that cannot be removed,
    /// folders that overlap).
    case storage(String)
    /// A savepoint cannot be written, read or restored (damage names the object and offset).
    case savepoint(String)

    /// A one-line description for messages and logs.
    public var description: String {
        switch self {
        case .invalidJob(let m): return "invalid job: \(m)"
        case .stateCorrupt(let m): return "state corrupt: \(m)"
        case .injectedFailure(let n): return "injected failure at record \(n)"
        case let .jobFailed(attempts, cause): return "job failed after \(attempts) attempt(s): \(cause)"
        case .checkpoint(let m): return "checkpoint: \(m)"
        case .storage(let m): return "storage: \(m)"
        case .savepoint(let m): return "savepoint: \(m)"
        }
    }
}
