import Foundation

/// A fresh directory under the system's temporary folder, for a test's stores and
/// checkpoint storages; `cleanup()` deletes it with everything in it.
public struct TemporaryDirectory: Sendable {
    /// The directory's path.
    public let path: String

    /// Creates a new directory whose name starts with `prefix`.
    public init(_ prefix: String = "lsm") {
        let base = NSTemporaryDirectory()
        path = (base.hasSuffix("/") ? base : base + "/") + "\(prefix)-\(UInt64.random(in: 0...UInt64.max))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// The path of `name` inside the directory.
    public func sub(_ name: String) -> String { path + "/" + name }

    /// Deletes the directory and everything in it.
    public func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}
