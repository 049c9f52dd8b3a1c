import CLZ4

/// Thin wrapper over liblz4's block API (`LZ4_compress_default`, `LZ4_decompress_safe`).
enum LZ4 {
    /// Compresses `input` as one LZ4 block; nil if liblz4 reports failure.
    static func compress(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let bound = bound(input.count) else { return nil }
        var out = [UInt8](repeating: 0, count: bound)
        guard let n = out.withUnsafeMutableBytes({ compress(input, into: $0) }) else { return nil }
        out.removeSubrange(n...)
        return out
    }

    /// The most bytes compressing `count` bytes can produce, or nil when `count` is too large
    /// for one LZ4 block.
    static func bound(_ count: Int) -> Int? {
        guard count >= 0, count <= Int(LZ4_MAX_INPUT_SIZE) else { return nil }
        let bound = Int(LZ4_compressBound(Int32(count)))
        return bound > 0 ? bound : nil
    }

    /// Compresses `input` as one LZ4 block into `dst`, which must hold `bound(input.count)`
    /// bytes. Returns the compressed size, or nil if liblz4 reports failure.
    static func compress(_ input: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) -> Int? {
        guard let bound = bound(input.count), dst.count >= bound, let d = dst.baseAddress else { return nil }
        let n = LZ4_compress_default(
            input.baseAddress?.assumingMemoryBound(to: CChar.self), d.assumingMemoryBound(to: CChar.self),
            Int32(input.count), Int32(bound))
        guard n > 0 else {
            guard input.count == 0 else { return nil }
            d.storeBytes(of: 0, as: UInt8.self)
            return 1
        }
        return Int(n)
    }

    static func compress(_ input: [UInt8]) -> [UInt8]? {
        input.withUnsafeBytes { compress($0) }
    }

    /// Decompresses one LZ4 block into exactly `outputSize` bytes at `dst`. Returns false when
    /// the input is malformed or does not decode to exactly `outputSize` bytes.
    static func decompress(_ input: UnsafeRawBufferPointer, into dst: UnsafeMutableRawPointer, outputSize: Int) -> Bool
    {
        guard let src = input.baseAddress, input.count > 0, input.count <= Int(Int32.max),
            outputSize <= Int(Int32.max)
        else { return outputSize == 0 && input.count <= 1 }
        let n = LZ4_decompress_safe(
            src.assumingMemoryBound(to: CChar.self),
            dst.assumingMemoryBound(to: CChar.self),
            Int32(input.count), Int32(outputSize))
        return Int(n) == outputSize
    }

    static func decompress(_ input: [UInt8], outputSize: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: max(outputSize, 1))
        let ok = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in decompress(src, into: dst.baseAddress!, outputSize: outputSize) }
        }
        guard ok else { return nil }
        if outputSize == 0 { return [] }
        return out
    }
}
