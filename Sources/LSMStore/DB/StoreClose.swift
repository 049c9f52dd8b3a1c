/// Closing a store: flush without a WAL, stop the threads, release the LOCK.
extension StoreCore {
    // MARK: Close

    func close() throws {
        writeMutex.lock()
        defer { writeMutex.unlock() }
        mu.lock()
        if closed {
            mu.unlock()
            return
        }
        var flushError: Error? = nil
        if !options.walEnabled && (!mem.isEmpty || imm != nil) {
            // Without a WAL the memtable is the only copy of recent writes: flush it, and
            // report when that is impossible rather than drop them silently.
            if let e = bgError {
                flushError = e
            } else {
                do { try flushLocked() } catch { flushError = error }
            }
        }
        shuttingDown = true
        mu.broadcast()
        // A manual compaction on another thread notices `shuttingDown` and stops.
        while compactionRunning { mu.wait() }
        mu.unlock()
        for t in threads { t.join() }
        mu.lock()
        closed = true
        withdrawView()
        try? log?.close()
        versions.close()
        mu.unlock()
        lockFile?.unlock()
        if let flushError { throw flushError }
    }
}
