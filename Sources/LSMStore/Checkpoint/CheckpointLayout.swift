/// The names of things in a checkpoint storage (docs/FORMAT.md §8.1), spelled once: for the
/// store's checkpoints and for anything built on them that keeps `chk-N/_metadata` folders
/// of its own (the stream runtime's job checkpoints).
public enum CheckpointLayout {
    /// The folder of shared objects.
    public static let sharedFolder = "shared"

    /// `chk-N`, checkpoint N's folder.
    public static func folder(_ id: UInt64) -> String { "chk-\(id)" }

    /// `chk-N/_metadata`: written last, its presence makes checkpoint N complete.
    public static func metadata(_ id: UInt64) -> String { folder(id) + "/_metadata" }

    /// `chk-N/_claim`: which store took id N (FORMAT.md §8.6).
    public static func claim(_ id: UInt64) -> String { folder(id) + "/_claim" }

    /// The id of a top-level name `chk-N`, or nil for any other name.
    public static func id(ofFolder name: String) -> UInt64? {
        name.hasPrefix("chk-") ? UInt64(name.dropFirst(4)) : nil
    }

    /// `shared/<storeIdHex>-NNNNNN.sst`: an incremental checkpoint's table.
    static func sharedTable(store storeHex: String, number: UInt64) -> String {
        "\(sharedFolder)/\(storeHex)-\(FileNames.tableName(number))"
    }

    /// The store id (hex) in a shared object's name (`<storeIdHex>-…`, without the folder).
    static func store(ofSharedName name: String) -> String { String(name.prefix(while: { $0 != "-" })) }
}
