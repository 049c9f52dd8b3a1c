#if DEBUG
    import Glibc

    /// Counts key comparisons on the calling thread, in debug builds only, so tests can check
    /// the complexity of a hot path (a skip-list insert, a block seek, an iterator seek) by
    /// counting rather than timing. Release builds compile the hook away.
    ///
    /// Each thread has its own counter (a pthread key), so tests running in parallel do not
    /// see each other's comparisons, and work on other threads (flushes, compactions) is not
    /// counted.
    enum ComparisonCounter {
        private static let key: pthread_key_t = {
            var k = pthread_key_t()
            pthread_key_create(&k) { $0?.deallocate() }
            return k
        }()

        /// Adds one to this thread's counter, if it is counting.
        @inline(__always)
        static func record() {
            if let p = pthread_getspecific(key) {
                p.assumingMemoryBound(to: Int.self).pointee += 1
            }
        }

        /// Runs `body` and returns its result with the number of comparisons it made on this thread.
        static func counting<T>(_ body: () throws -> T) rethrows -> (result: T, comparisons: Int) {
            let p: UnsafeMutableRawPointer
            if let existing = pthread_getspecific(key) {
                p = existing
            } else {
                p = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
                pthread_setspecific(key, p)
            }
            let counter = p.assumingMemoryBound(to: Int.self)
            let before = counter.pointee
            let result = try body()
            return (result, counter.pointee - before)
        }
    }
#endif
