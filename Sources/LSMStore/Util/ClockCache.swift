/// A thread-safe cache with a capacity in charge units (bytes for the block cache, open
/// files for the table cache), evicting by CLOCK (second chance): an approximation of
/// least-recently-used that needs no list relinking on a hit and no allocation per entry.
///
/// Entries live in one array of slots; a dictionary maps keys to slot indices. A hit sets
/// the slot's reference bit. Eviction moves a hand around the slots: a referenced slot
/// loses its bit and is passed over, an unreferenced one is evicted. Freed slots are
/// reused. Every operation is O(1) dictionary work; the hand's sweep is amortized O(1)
/// (each pass over a slot either clears its bit, which a hit had to set, or evicts it).
///
/// Admission (`shouldAdmit`): once the cache is full, a new entry is admitted only if its
/// key missed recently before, as TinyLFU's doorkeeper does. Keys that are read once in a
/// long while (a uniform random read over data many times the cache) then cost no insert,
/// no eviction and no write of a new entry into cold memory, while a key missed twice
/// within the window (a hot block) is admitted on its second miss.
final class ClockCache<Key: Hashable, Value>: @unchecked Sendable {
    private struct Slot {
        var key: Key?
        var value: Value?
        var charge: Int
        var referenced: Bool
    }

    let capacity: Int
    private let lock = Monitor()
    private var map: [Key: Int] = [:]
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var hand = 0
    private var _usage = 0
    private var _hits = 0
    private var _misses = 0
    private var _declined = 0
    /// The doorkeeper: hashes of keys recently declined, direct-mapped (a newer key
    /// overwrites an older one in its place, which ages the window). Sized when the cache
    /// first fills, to twice its entries then.
    private var recentMisses: [Int] = []

    /// Charge in use, hits and misses so far.
    var counters: (usage: Int, hits: Int, misses: Int) { lock.withLock { (_usage, _hits, _misses) } }

    /// Entries `shouldAdmit` has declined so far.
    var declined: Int { lock.withLock { _declined } }

    init(capacity: Int) { self.capacity = capacity }

    func get(_ key: Key) -> Value? {
        lock.withLock {
            guard let i = map[key] else {
                _misses += 1
                return nil
            }
            _hits += 1
            slots[i].referenced = true
            return slots[i].value
        }
    }

    /// Inserts or replaces `key`'s entry, evicting others until the charge fits. The entry
    /// inserted is never evicted by its own insertion, even if it alone exceeds the capacity.
    func insert(_ key: Key, _ value: Value, charge: Int) {
        guard capacity > 0 else { return }
        lock.withLock {
            if let i = map[key] {
                _usage += charge - slots[i].charge
                slots[i].value = value
                slots[i].charge = charge
                slots[i].referenced = true
                while _usage > capacity, map.count > 1 { evictOne(sparing: i) }
            } else {
                while _usage + charge > capacity, !map.isEmpty { evictOne(sparing: -1) }
                let slot = Slot(key: key, value: value, charge: charge, referenced: false)
                let i: Int
                if let f = freeSlots.popLast() {
                    i = f
                    slots[i] = slot
                } else {
                    i = slots.count
                    slots.append(slot)
                }
                map[key] = i
                _usage += charge
            }
        }
    }

    /// Whether an entry for `key` of `charge` should be inserted after a miss: yes while the
    /// cache has room for it, or when `key` was declined recently (its second miss within
    /// the doorkeeper's window). A declined key is remembered.
    func shouldAdmit(_ key: Key, charge: Int) -> Bool {
        guard capacity > 0 else { return false }
        return lock.withLock {
            if _usage + charge <= capacity { return true }
            if recentMisses.isEmpty {
                var n = 64
                while n < 2 * slots.count { n *= 2 }
                recentMisses = [Int](repeating: 0, count: n)
            }
            // 0 marks an empty place, so a hash of 0 is stored as 1.
            let h = key.hashValue | 1
            let i = h & (recentMisses.count - 1)
            if recentMisses[i] == h {
                recentMisses[i] = 0
                return true
            }
            recentMisses[i] = h
            _declined += 1
            return false
        }
    }

    /// Moves the hand to the next unreferenced live slot and frees it.
    /// Slot `sparing` is passed over. The lock is held.
    private func evictOne(sparing: Int) {
        while true {
            let i = hand
            hand = hand + 1 >= slots.count ? 0 : hand + 1
            guard i != sparing, let key = slots[i].key else { continue }
            if slots[i].referenced {
                slots[i].referenced = false
                continue
            }
            remove(at: i, key: key)
            return
        }
    }

    /// Frees slot `i` (holding `key`), releasing its value. The lock is held.
    private func remove(at i: Int, key: Key) {
        map[key] = nil
        _usage -= slots[i].charge
        slots[i] = Slot(key: nil, value: nil, charge: 0, referenced: false)
        freeSlots.append(i)
    }

    func erase(_ key: Key) {
        lock.withLock {
            if let i = map[key] { remove(at: i, key: key) }
        }
    }

    /// Removes every entry whose key satisfies `predicate`.
    func eraseAll(where predicate: (Key) -> Bool) {
        lock.withLock {
            for i in slots.indices {
                if let k = slots[i].key, predicate(k) { remove(at: i, key: k) }
            }
        }
    }

    var count: Int { lock.withLock { map.count } }
}
