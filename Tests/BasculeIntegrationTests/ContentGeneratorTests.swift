import BasculeBackendService
import BasculeTestSupport
import Testing

@Suite("ContentGenerator and SHA256Hasher")
struct ContentGeneratorTests {
    @Test func hashesTheStandardTestVectors() {
        #expect(SHA256Hasher.hex(of: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Hasher.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func isDeterministicAcrossInstancesAndDependsOnTheName() {
        let a = ContentGenerator(name: "pkg-a").bytes(offset: 0, count: 4096)
        #expect(a == ContentGenerator(name: "pkg-a").bytes(offset: 0, count: 4096))
        #expect(a != ContentGenerator(name: "pkg-b").bytes(offset: 0, count: 4096))
    }

    /// Pins the byte stream: a backend built at another commit must serve the same content.
    @Test func matchesThePinnedDigest() {
        #expect(ContentGenerator(name: "pkg-a").sha256(size: 64 << 10)
                == "c6a4b39db1f3dc55b459183d5d09a5a6c9d633ea35126f6af02e587a7a641780")
        #expect(ContentGenerator(name: "pkg-a").sha256(size: 1_000_003)
                == "034e12cbd638559d139e37469753bdc75176e42726061c7b8d9751dfe9e54f2e")
    }

    @Test func fillAtAnyOffsetMatchesTheWholeStream() {
        let generator = ContentGenerator(name: "offsets")
        let whole = generator.bytes(offset: 0, count: 300_000)
        for (offset, count) in [(0, 1), (1, 70_000), (65_535, 2), (65_536, 65_536), (131_000, 100_000), (299_999, 1)] {
            #expect(generator.bytes(offset: UInt64(offset), count: count) == Array(whole[offset..<(offset + count)]),
                    "offset \(offset) count \(count)")
        }
    }

    @Test func blocksDifferSoReorderingIsDetectable() {
        let generator = ContentGenerator(name: "blocks")
        let size = ContentGenerator.blockSize
        let first = generator.bytes(offset: 0, count: size)
        let second = generator.bytes(offset: UInt64(size), count: size)
        #expect(first != second)
    }

    @Test func sha256OfTheWholeEqualsHashingArbitraryChunks() {
        let generator = ContentGenerator(name: "chunks")
        let size: UInt64 = 1_000_003
        let hasher = SHA256Hasher()
        var offset: UInt64 = 0
        var step: UInt64 = 1
        while offset < size {
            let count = Int(min(step, size - offset))
            hasher.update(generator.bytes(offset: offset, count: count))
            offset += UInt64(count)
            step = step * 3 + 7
        }
        #expect(hasher.finalize() == generator.sha256(size: size))
    }
}
