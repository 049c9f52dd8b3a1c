// `lsm-fuzz`: every decoder of stored bytes as a fuzz target.
//
// Built by `make fuzz` with `-sanitize=fuzzer -DLIBFUZZER`, it is a libFuzzer binary: the
// target is chosen by the environment variable LSM_FUZZ_TARGET and libFuzzer's own options
// follow on the command line. Built normally, it replays inputs:
// `lsm-fuzz replay DIR...` runs every file under DIR/<target>/ through that target (the
// corpus of inputs that once failed, replayed by `make test`), and `lsm-fuzz list` prints the
// targets. A failing input traps, so the process exits non-zero naming nothing but the
// trap; the replay prints each file before running it.
import Foundation
@_spi(Fuzzing) import LSMStore
import LSMStoreTesting
@_spi(Fuzzing) import StreamRuntime

let allTargets = FuzzEntryPoints.targets(makeFileSystem: { MemoryFileSystem() }) + RuntimeFuzzEntryPoints.targets

func target(named name: String) -> (@Sendable ([UInt8]) -> Void)? {
    allTargets.first { $0.name == name }?.run
}

/// libFuzzer's entry point: runs the target LSM_FUZZ_TARGET names on one input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let name = ProcessInfo.processInfo.environment["LSM_FUZZ_TARGET"] ?? ""
    guard let run = target(named: name) else {
        FileHandle.standardError.write(
            Data("LSM_FUZZ_TARGET must name one of: \(allTargets.map(\.name).joined(separator: " "))\n".utf8))
        exit(2)
    }
    run(bytes)
    return 0
}

#if LIBFUZZER
    @_silgen_name("LLVMFuzzerRunDriver")
    func runDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    @main struct FuzzMain {
        static func main() {
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(runDriver(&argc, &argv, fuzzOne))
        }
    }
#else
    @main struct Replay {
        static func fail(_ message: String) -> Never {
            FileHandle.standardError.write(Data("lsm-fuzz: \(message)\n".utf8))
            exit(2)
        }

        static func main() {
            let args = Array(CommandLine.arguments.dropFirst())
            switch args.first {
            case "list":
                for t in allTargets { print(t.name) }
            case "replay" where args.count >= 2:
                var count = 0
                for root in args.dropFirst() {
                    var isDir: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
                        fail("\(root) is not a directory")
                    }
                    for name in allTargets.map(\.name) {
                        let dir = root + "/" + name
                        guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
                        for file in files.sorted() where !file.hasPrefix(".") {
                            let path = dir + "/" + file
                            guard let data = FileManager.default.contents(atPath: path) else {
                                fail("cannot read \(path)")
                            }
                            print("\(name): \(file)")
                            target(named: name)?([UInt8](data))
                            count += 1
                        }
                    }
                }
                print("replayed \(count) inputs")
            default:
                fail("usage: lsm-fuzz list | lsm-fuzz replay DIR...")
            }
        }
    }
#endif
