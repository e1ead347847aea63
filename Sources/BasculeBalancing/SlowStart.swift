/// A backend that has just come up gets a weight growing linearly from 1 to its configured
/// weight over `slowStartMs`, so a cold cache or JIT is not handed its full share at once.
/// The control thread rebuilds the strategy with the new weight as time passes.
public enum SlowStart {
    public static func effectiveWeight(configured: Int, elapsedMs: Int, slowStartMs: Int) -> Int {
        let full = max(1, configured)
        guard slowStartMs > 0, elapsedMs < slowStartMs else { return full }
        let elapsed = max(0, elapsedMs)
        // Full-width product: a large weight times a long ramp must not overflow; the
        // quotient is below `full` since elapsed < slowStartMs.
        let ramped = slowStartMs.dividingFullWidth(full.multipliedFullWidth(by: elapsed)).quotient
        return max(1, ramped)
    }
}
