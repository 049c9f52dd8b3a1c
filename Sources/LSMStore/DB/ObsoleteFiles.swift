/// Deleting files nothing needs any more.
extension StoreCore {
    // MARK: Obsolete files

    /// Deletes files no live version, pending output or current log needs; `atOpen` (before
    /// the background threads start) also temp files a crash left. Caller holds `mu`.
    func removeObsoleteFiles(atOpen: Bool = false) {
        guard bgError == nil else { return }  // after a failure, keep everything for inspection
        // The directory is listed and the files removed with `mu` released (as LevelDB
        // does): a file created after the listing is not in it, and a file found obsolete
        // stays so (file numbers are never reused), so only the decision needs the lock.
        mu.unlock()
        let listed = try? fs.listDirectory(dir)
        mu.lock()
        guard let names = listed, bgError == nil else { return }
        let live = versions.liveFileNumbers().union(pendingOutputs)
        var doomed: [String] = []
        for name in names {
            let keep: Bool
            switch FileNames.parse(name) {
            case .log(let n)?: keep = n >= versions.logNumber || n == logFileNumber
            case .manifest(let n)?: keep = n >= versions.manifestNumber
            case .table(let n)?:
                keep = live.contains(n)
                if !keep { tables.evict(n) }
            // A temp file may be another thread's CURRENT.tmp between creation and rename:
            // removed only while opening.
            case .temp?: keep = !atOpen
            case .current?, .lock?, nil: keep = true
            }
            if !keep { doomed.append(name) }
        }
        guard !doomed.isEmpty else { return }
        mu.unlock()
        for name in doomed { try? fs.remove(joinPath(dir, name)) }
        mu.lock()
    }
}
