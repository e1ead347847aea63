/// The random source of the random strategies: a few instructions per draw, no allocation,
/// no lock, and reproducible from `StrategyOptions.seed` so tests are exact. Not for anything
/// an attacker must not predict.
@usableFromInline
struct SplitMix64: Sendable {
    @usableFromInline var state: UInt64

    @usableFromInline
    init(seed: UInt64) {
        state = seed
    }

    @inlinable
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return StableHash.mix64(state)
    }

    /// A draw in `0..<bound`; `bound` > 0.
    @inlinable
    mutating func next(below bound: Int) -> Int {
        StableHash.reduce(next(), into: bound)
    }
}
