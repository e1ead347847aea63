/// The strategies a service can run. A closed enum rather than `any BalancingStrategy`: the
/// worker's pick is a switch over concrete types, each specialised for the proxy's load
/// source and inlined, where an existential call left both the strategy and every counter
/// read unspecialised (Ir per pick through the enum against the existential, see the commit:
/// least-connections at 300 backends 12,529 → 3,947, power-of-two 288 → 225).
public enum Strategy: Sendable {
    case roundRobin(StrategyBox<RoundRobin>)
    case weightedRoundRobin(StrategyBox<WeightedRoundRobin>)
    case leastConnections(StrategyBox<LeastConnections>)
    case random(StrategyBox<WeightedRandom>)
    case powerOfTwo(StrategyBox<PowerOfTwoChoices>)
    case sourceHash(StrategyBox<SourceHash>)
    case maglev(StrategyBox<Maglev>)

    /// The chosen backend's `BackendEntry.index` (see `BalancingStrategy.pick`). Advances this
    /// copy's state: call it on one thread's own copy (`copy(seed:)`), never on a template.
    @inlinable
    public func pick<Load: LoadSource>(_ context: PickContext, load: Load) -> Int? {
        switch self {
        case .roundRobin(let box): box.value.pick(context, load: load)
        case .weightedRoundRobin(let box): box.value.pick(context, load: load)
        case .leastConnections(let box): box.value.pick(context, load: load)
        case .random(let box): box.value.pick(context, load: load)
        case .powerOfTwo(let box): box.value.pick(context, load: load)
        case .sourceHash(let box): box.value.pick(context, load: load)
        case .maglev(let box): box.value.pick(context, load: load)
        }
    }

    /// A worker's own copy, reseeded so copies do not choose in lockstep; immutable tables
    /// stay shared.
    public func copy(seed: UInt64) -> Strategy {
        switch self {
        case .roundRobin(let box): .roundRobin(box.copy(seed: seed))
        case .weightedRoundRobin(let box): .weightedRoundRobin(box.copy(seed: seed))
        case .leastConnections(let box): .leastConnections(box.copy(seed: seed))
        case .random(let box): .random(box.copy(seed: seed))
        case .powerOfTwo(let box): .powerOfTwo(box.copy(seed: seed))
        case .sourceHash(let box): .sourceHash(box.copy(seed: seed))
        case .maglev(let box): .maglev(box.copy(seed: seed))
        }
    }
}

/// A strategy value held in place, so a pick mutates it where it lies: an enum payload can
/// only be changed by moving it out and back, which retained every array it holds (round-
/// robin's pick cost 376 Ir that way, 47 in a box). Unchecked Sendable: a table's template is
/// only ever copied, and each copy is picked from by one worker thread only.
public final class StrategyBox<S: BalancingStrategy>: @unchecked Sendable {
    @exclusivity(unchecked) @usableFromInline var value: S

    init(_ value: S) {
        self.value = value
    }

    func copy(seed: UInt64) -> StrategyBox<S> {
        var copy = value
        copy.reseed(seed)
        return StrategyBox(copy)
    }
}

/// The table from config name to strategy. Adding a strategy: one new file conforming to
/// `BalancingStrategy`, its case and its two switch arms in `Strategy` above, one line here.
public enum StrategyRegistry {
    public static let all: [StrategyRegistration] = [
        StrategyRegistration(RoundRobin.self, Strategy.roundRobin),
        StrategyRegistration(WeightedRoundRobin.self, Strategy.weightedRoundRobin),
        StrategyRegistration(LeastConnections.self, Strategy.leastConnections),
        StrategyRegistration(WeightedRandom.self, Strategy.random),
        StrategyRegistration(PowerOfTwoChoices.self, Strategy.powerOfTwo),
        StrategyRegistration(SourceHash.self, Strategy.sourceHash),
        StrategyRegistration(Maglev.self, Strategy.maglev),
    ]

    public static var names: [String] { all.map(\.name) }

    /// Builds the named strategy over the given backends; nil for an unknown name (config
    /// validation rejects unknown names before this is ever reached).
    public static func make(named name: String, backends: [BackendEntry],
                            options: StrategyOptions) -> Strategy? {
        all.first { $0.name == name }?.build(backends, options)
    }
}

/// One registry line: a strategy's config name and how to build it into its `Strategy` case.
public struct StrategyRegistration: Sendable {
    public let name: String
    let build: @Sendable ([BackendEntry], StrategyOptions) -> Strategy

    init<S: BalancingStrategy>(_ type: S.Type, _ wrap: @escaping @Sendable (StrategyBox<S>) -> Strategy) {
        name = S.name
        build = { wrap(StrategyBox(S(backends: $0, options: $1))) }
    }
}
