/// What the synchronous phase of a checkpoint captures: a version pinned so compaction
/// cannot delete its files, and the sequence number it holds exactly.
struct CheckpointPin {
    let version: Version
    let sequence: UInt64
    let storeID: [UInt8]
    let nextFileNumber: UInt64
    let dir: String
}

/// A checkpoint's claim on the version that will hold every write made before it: either
/// that version already, or the number of the memtable whose flush will produce it.
enum CheckpointPinTicket {
    case ready(CheckpointPin)
    case afterFlush(memtable: UInt64, sequence: UInt64)
}

extension StoreCore {
    /// The current version as a checkpoint pin. Caller holds `mu`.
    func currentPin() -> CheckpointPin {
        CheckpointPin(
            version: versions.current, sequence: versions.lastSequence, storeID: versions.storeID,
            nextFileNumber: versions.nextFileNumber, dir: dir)
    }

    /// Flushes the memtable (writers wait meanwhile, so the version holds every write up to
    /// `sequence` and nothing after) and pins the resulting version.
    func pinForCheckpoint() throws -> CheckpointPin {
        try awaitCheckpointPin(try beginCheckpointPin())
    }

    /// A checkpoint's synchronous phase without the flush: switches the memtable (writers
    /// wait only for the switch) and returns a ticket for the version its flush will install.
    /// That version holds every write up to the switch and nothing after, because flushes
    /// finish in order and the capture is taken as this memtable's flush is installed. Every
    /// ticket must be passed to `awaitCheckpointPin` or `releaseCheckpointPin`.
    func beginCheckpointPin() throws -> CheckpointPinTicket {
        writeMutex.lock()
        defer { writeMutex.unlock() }
        return try mu.withLock {
            if closed || shuttingDown { throw LSMError.closed }
            if let e = bgError { throw e }
            if mem.isEmpty && imm == nil { return .ready(currentPin()) }
            if !mem.isEmpty { try makeRoomForWrite(force: true) }
            let n = switchedMemtables
            let c = checkpointCaptures[n]
            checkpointCaptures[n] = ((c?.waiters ?? 0) + 1, c?.pin)
            return .afterFlush(memtable: n, sequence: versions.lastSequence)
        }
    }

    /// Waits for a ticket's flush and returns the pinned version.
    func awaitCheckpointPin(_ ticket: CheckpointPinTicket) throws -> CheckpointPin {
        guard case .afterFlush(let n, let sequence) = ticket else {
            if case .ready(let pin) = ticket { return pin }
            throw LSMError.invalidArgument("unreachable checkpoint ticket")
        }
        return try mu.withLock {
            defer { releaseCaptureLocked(n) }
            while flushedMemtables < n && bgError == nil && !shuttingDown && !closed { mu.wait() }
            guard let pin = checkpointCaptures[n]?.pin else {
                if let e = bgError { throw e }
                throw LSMError.closed
            }
            return CheckpointPin(
                version: pin.version, sequence: sequence, storeID: pin.storeID,
                nextFileNumber: pin.nextFileNumber, dir: pin.dir)
        }
    }

    /// Gives up a ticket without waiting (an aborted checkpoint).
    func releaseCheckpointPin(_ ticket: CheckpointPinTicket) {
        guard case .afterFlush(let n, _) = ticket else { return }
        mu.withLock { releaseCaptureLocked(n) }
    }

    private func releaseCaptureLocked(_ n: UInt64) {
        guard let c = checkpointCaptures[n] else { return }
        if c.waiters <= 1 { checkpointCaptures[n] = nil } else { checkpointCaptures[n] = (c.waiters - 1, c.pin) }
    }
}
