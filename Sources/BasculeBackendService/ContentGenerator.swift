/// Deterministic content for `GET /content/NAME`: the byte at any offset depends only on the
/// name and the offset, so every backend serves identical bytes and a client can resume a
/// download on another backend and still check the whole file's hash.
///
/// A 64 KiB pattern is generated once per name (splitmix64 seeded by FNV-1a, never Swift's
/// per-process-seeded `Hasher`); each 64 KiB block is that pattern rotated by a per-block
/// amount, so blocks differ and reordered or duplicated blocks change the hash. Filling is two
/// memcpy calls per block, fast enough for debug builds streaming hundreds of MiB.
public struct ContentGenerator: Sendable {
    public static let blockSize = 1 << 16

    public let name: String
    private let seed: UInt64
    private let pattern: [UInt8]

    public init(name: String) {
        self.name = name
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        seed = hash
        var state = hash
        var words = [UInt64](repeating: 0, count: ContentGenerator.blockSize / 8)
        for index in words.indices { words[index] = ContentGenerator.splitmix64(&state).littleEndian }
        pattern = words.withUnsafeBytes { Array($0) }
    }

    /// Writes the content bytes `offset ..< offset + buffer.count` into `buffer`.
    public func fill(offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) {
        guard let destination = buffer.baseAddress else { return }
        let blockSize = UInt64(ContentGenerator.blockSize)
        pattern.withUnsafeBytes { source in
            let base = source.baseAddress!
            var written = 0
            while written < buffer.count {
                let position = offset + UInt64(written)
                let block = position / blockSize
                let inBlock = Int(position % blockSize)
                let rotation = Int(rotation(ofBlock: block))
                let take = min(buffer.count - written, ContentGenerator.blockSize - inBlock)
                // Source index wraps once at most within one block's worth of bytes.
                let start = (inBlock + rotation) % ContentGenerator.blockSize
                let firstPart = min(take, ContentGenerator.blockSize - start)
                (destination + written).copyMemory(from: base + start, byteCount: firstPart)
                if firstPart < take {
                    (destination + written + firstPart).copyMemory(from: base, byteCount: take - firstPart)
                }
                written += take
            }
        }
    }

    /// Hex SHA-256 of the first `size` bytes: what a client downloading `?size=size` must see.
    public func sha256(size: UInt64) -> String {
        let hasher = SHA256Hasher()
        let chunk = 256 * 1024
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var offset: UInt64 = 0
        while offset < size {
            let count = Int(min(UInt64(chunk), size - offset))
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
            fill(offset: offset, into: slice)
            hasher.update(UnsafeRawBufferPointer(slice))
            offset += UInt64(count)
        }
        return hasher.finalize()
    }

    /// The bytes at `offset ..< offset + count` as an array (convenient for small checks).
    public func bytes(offset: UInt64, count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
            fill(offset: offset, into: UnsafeMutableRawBufferPointer(storage))
            initialized = count
        }
    }

    private func rotation(ofBlock block: UInt64) -> UInt64 {
        var state = seed ^ (block &* 0x9e37_79b9_7f4a_7c15)
        return ContentGenerator.splitmix64(&state) % UInt64(ContentGenerator.blockSize)
    }

    private static func splitmix64(_ state: inout UInt64) -> UInt64 {
        state = state &+ 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
