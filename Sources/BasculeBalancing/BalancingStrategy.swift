/// A backend as the balancing strategies see it: identity and weight, nothing about sockets.
/// `index` is the backend's position in the service's full backend list (as in the config
/// file); strategies return it so the proxy can find the backend's address and counters.
public struct BackendEntry: Sendable, Hashable {
    public var index: Int
    public var name: String
    /// Normalised "host:port"; part of the identity that hashing strategies use, so several
    /// balancer nodes with the same backend set agree without talking to each other.
    public var address: String
    /// Effective weight (config weight, possibly reduced by slow start). Always >= 1.
    public var weight: Int
    /// Where the backend's active count lives in the service's contiguous count store
    /// (`LoadSource.withActiveCounts`); kept for the backend's life, across rebuilds, reloads
    /// and other backends' arrivals and departures, so it is not `index`. Defaults to `index`.
    public var slot: Int

    public init(index: Int, name: String, address: String, weight: Int = 1, slot: Int? = nil) {
        self.index = index
        self.name = name
        self.address = address
        self.weight = max(1, weight)
        self.slot = slot ?? index
    }
}

/// Live per-backend load, read by the load-aware strategies. Implemented by the proxy over
/// the shared atomic counters; by plain arrays in tests.
public protocol LoadSource {
    /// Active connections of the backend with this `BackendEntry.index`.
    func activeConnections(backend index: Int) -> Int

    /// Lends every active count at once, one `UInt32` per `BackendEntry.slot`, contiguous, so
    /// a strategy can scan them with vector instructions instead of one call per backend.
    func withActiveCounts<R>(_ body: (UnsafePointer<UInt32>) -> R) -> R
}

/// What a strategy may know of the connection it is choosing for.
public struct PickContext {
    /// Hash of the client identity chosen by the service's affinity (address, or its /24 or
    /// /64 network); 0 when the service has no affinity.
    public var clientHash: UInt64
    /// 0 for a connection's first choice, then one more per backend it has failed to reach.
    /// Hashing strategies mix it into `clientHash` (Envoy's `chooseHost(hash, attempt)`), so a
    /// retry is a new draw rather than the next entry of a list.
    public var attempt: Int
    /// `BackendEntry.index`es already tried (or found full): a strategy returns none of them
    /// while an eligible backend outside them remains, and nil once every one is in here.
    public var tried: [Int]

    @inlinable
    public init(clientHash: UInt64 = 0, attempt: Int = 0, tried: [Int] = []) {
        self.clientHash = clientHash
        self.attempt = attempt
        self.tried = tried
    }
}

/// Options a strategy may read at build time.
public struct StrategyOptions: Sendable, Hashable {
    public var maglevTableSize: Int
    /// Seed for strategies that draw random numbers; fixed in tests.
    public var seed: UInt64

    public init(maglevTableSize: Int = 65537, seed: UInt64 = 0) {
        self.maglevTableSize = maglevTableSize
        self.seed = seed
    }
}

/// One balancing algorithm. Built off the hot path (control thread) whenever the set of
/// eligible backends or their weights change; each worker then owns its own copy, so `pick`
/// is a plain mutating call with no lock. The backends passed in are exactly the eligible
/// ones (up, not draining, not disabled; primaries, or backups when no primary is up), so a
/// strategy never has to check state itself.
public protocol BalancingStrategy: Sendable {
    /// The name used in config.json (`"strategy": "round-robin"`).
    static var name: String { get }

    init(backends: [BackendEntry], options: StrategyOptions)

    /// The chosen backend's `BackendEntry.index`, never one in `context.tried` (see
    /// `RetryDraw`), or nil when every backend is in it (or there is none).
    mutating func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int?

    /// Called on each worker's copy so copies of a randomised or rotating strategy do not all
    /// make the same choices in lockstep. Deterministic strategies keep the default (nothing).
    mutating func reseed(_ seed: UInt64)
}

extension BalancingStrategy {
    public mutating func reseed(_ seed: UInt64) {}
}
