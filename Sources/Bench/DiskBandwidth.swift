import LSMStore

/// The disk's sequential write bandwidth with a final fsync, in bytes per second: `mebibytes`
/// MiB written in 1 MiB appends to a file in `dir`, synced, then removed. Checkpoint figures
/// are compared with it in the same run (a checkpoint's physical floor is its delta written
/// at this speed), since the machine's disk and load vary between runs.
func measureSyncedWriteBandwidth(dir: String, mebibytes: Int) throws -> Double {
    let path = dir + "/bandwidth.tmp"
    let fs = PosixFileSystem()
    let f = try fs.create(path)
    let chunk = [UInt8](repeating: 0xA5, count: 1 << 20)
    let clock = ContinuousClock()
    let t = try clock.measure {
        for _ in 0..<mebibytes { try f.append(chunk) }
        try f.sync()
    }
    try f.close()
    try fs.remove(path)
    return Double(mebibytes << 20) / seconds(t)
}
