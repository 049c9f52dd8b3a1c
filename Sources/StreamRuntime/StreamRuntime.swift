import LSMStore

/// The streaming runtime (its own issue): for now it only names the store it builds on.
enum StreamRuntimeInfo {
    static let stateBackend = "LSMStore"
}
