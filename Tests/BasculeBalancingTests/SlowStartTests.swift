import Testing
import BasculeBalancing

@Test func slowStartRampsLinearlyFromOneToTheConfiguredWeight() {
    #expect(SlowStart.effectiveWeight(configured: 100, elapsedMs: 0, slowStartMs: 10_000) == 1)
    #expect(SlowStart.effectiveWeight(configured: 100, elapsedMs: 2_500, slowStartMs: 10_000) == 25)
    #expect(SlowStart.effectiveWeight(configured: 100, elapsedMs: 5_000, slowStartMs: 10_000) == 50)
    #expect(SlowStart.effectiveWeight(configured: 100, elapsedMs: 9_999, slowStartMs: 10_000) == 99)
    #expect(SlowStart.effectiveWeight(configured: 100, elapsedMs: 10_000, slowStartMs: 10_000) == 100)
    #expect(SlowStart.effectiveWeight(configured: 100, elapsedMs: 60_000, slowStartMs: 10_000) == 100)
}

@Test func slowStartNeverGoesBelowOneNorBackwards() {
    var previous = 0
    for elapsed in stride(from: -100, through: 31_000, by: 100) {
        let weight = SlowStart.effectiveWeight(configured: 3, elapsedMs: elapsed, slowStartMs: 30_000)
        #expect(weight >= 1 && weight <= 3)
        #expect(weight >= previous)
        previous = weight
    }
    #expect(SlowStart.effectiveWeight(configured: 0, elapsedMs: 0, slowStartMs: 1000) == 1)
}

@Test func noSlowStartMeansFullWeightAtOnce() {
    #expect(SlowStart.effectiveWeight(configured: 7, elapsedMs: 0, slowStartMs: 0) == 7)
}

@Test func slowStartDoesNotOverflowOnLargeValues() {
    #expect(SlowStart.effectiveWeight(configured: Int.max / 2, elapsedMs: Int.max / 4,
                                      slowStartMs: Int.max / 2) == Int.max / 4)
}
