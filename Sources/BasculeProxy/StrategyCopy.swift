import BasculeBalancing

/// One worker's own copy of a table's strategy with the load view it reads, replaced together
/// when the table changes. Both are `let`s in a class so a pick can borrow them through an
/// unretained reference: held as `var`s of `ServiceRuntime`, every pick retained and released
/// the strategy's box and the counters array around the call.
final class StrategyCopy {
    let strategy: Strategy
    let load: SharedLoad

    init(table: ServiceTable, seed: UInt64) {
        strategy = table.strategy.copy(seed: seed)
        load = SharedLoad(counters: table.counters, store: table.activeCounts)
    }

    @inline(__always)
    func pick(_ context: PickContext) -> Int? {
        strategy.pick(context, load: load)
    }
}
