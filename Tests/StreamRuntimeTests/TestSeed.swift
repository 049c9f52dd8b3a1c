import Foundation

/// The seed of a seeded test: `LSM_SEED` when it is set (to replay the seed a failure
/// printed), otherwise a random one.
func testSeed() -> UInt64 {
    ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? .random(in: 0...UInt64.max)
}
