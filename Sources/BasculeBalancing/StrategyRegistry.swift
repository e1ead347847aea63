/// The table from config name to strategy. Adding a strategy: one new file conforming to
/// `BalancingStrategy`, one line here.
public enum StrategyRegistry {
    public static let all: [any BalancingStrategy.Type] = [
        RoundRobin.self,
        WeightedRoundRobin.self,
        LeastConnections.self,
        WeightedRandom.self,
        PowerOfTwoChoices.self,
        SourceHash.self,
        Maglev.self,
    ]

    public static var names: [String] { all.map { $0.name } }

    public static func strategy(named name: String) -> (any BalancingStrategy.Type)? {
        all.first { $0.name == name }
    }

    /// Builds the named strategy over the given backends; nil for an unknown name (config
    /// validation rejects unknown names before this is ever reached).
    public static func make(named name: String, backends: [BackendEntry],
                            options: StrategyOptions) -> (any BalancingStrategy)? {
        strategy(named: name).map { $0.init(backends: backends, options: options) }
    }
}
