/// Weighted sampling in O(1) per draw (Vose's alias method), shared by `random` and
/// `power-of-two`. Built in integers so the probabilities are exactly weight / total weight.
@usableFromInline
struct AliasTable: Sendable {
    /// Column i keeps itself when a draw in `0..<scale` falls below `threshold[i]`, else
    /// yields `alias[i]`.
    @usableFromInline let threshold: [UInt64]
    @usableFromInline let alias: [Int]
    @usableFromInline let scale: UInt64

    init(weights: [Int]) {
        let count = weights.count
        let total = weights.reduce(0) { $0 + UInt64($1) }
        // Each column holds `total` units of probability; weight i owns weight*count units.
        var units = weights.map { UInt64($0) * UInt64(count) }
        var alias = Array(0..<count)
        var threshold = [UInt64](repeating: total, count: count)
        var small = [Int](), large = [Int]()
        for (i, u) in units.enumerated() {
            if u < total { small.append(i) } else { large.append(i) }
        }
        while let s = small.popLast(), let l = large.popLast() {
            threshold[s] = units[s]
            alias[s] = l
            units[l] -= total - units[s]
            if units[l] < total { small.append(l) } else { large.append(l) }
        }
        // Whatever is left is exactly full (integer arithmetic leaves no rounding residue).
        for i in small + large { threshold[i] = total }
        self.threshold = threshold
        self.alias = alias
        self.scale = total
    }

    @inlinable
    func draw(_ random: inout SplitMix64) -> Int {
        let column = random.next(below: threshold.count)
        let roll = random.next().multipliedFullWidth(by: scale).high
        return roll < threshold[column] ? column : alias[column]
    }
}
