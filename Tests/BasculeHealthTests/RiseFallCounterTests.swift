@testable import BasculeHealth
import Testing

@Suite struct RiseFallCounterTests {
    @Test func anUpBackendGoesDownOnlyAfterFallConsecutiveFailures() {
        var counter = RiseFallCounter(rise: 2, fall: 3)
        #expect(counter.record(success: false) == nil)
        #expect(counter.record(success: false) == nil)
        #expect(counter.record(success: true) == nil)
        #expect(counter.record(success: false) == nil)
        #expect(counter.record(success: false) == nil)
        #expect(counter.record(success: false) == false)
        #expect(counter.progress == "(3/3)")
        #expect(counter.record(success: false) == nil, "already down: no second report")
    }

    @Test func aDownBackendComesBackOnlyAfterRiseConsecutiveSuccesses() {
        var counter = RiseFallCounter(rise: 2, fall: 1)
        #expect(counter.record(success: false) == false)
        #expect(counter.record(success: true) == nil)
        #expect(counter.record(success: false) == nil)
        #expect(counter.record(success: true) == nil)
        #expect(counter.record(success: true) == true)
        #expect(counter.progress == "(2/2)")
        #expect(counter.isUp)
    }

    @Test func successesWhileUpReportNothing() {
        var counter = RiseFallCounter(rise: 1, fall: 1)
        for _ in 0..<5 { #expect(counter.record(success: true) == nil) }
    }

    @Test func aBackendTakenDownElsewhereNeedsRiseGoodChecks() {
        var counter = RiseFallCounter(rise: 3, fall: 2)
        _ = counter.record(success: true)
        counter.forceDown()
        #expect(!counter.isUp)
        #expect(counter.record(success: true) == nil)
        #expect(counter.record(success: true) == nil)
        #expect(counter.record(success: true) == true)
    }
}
