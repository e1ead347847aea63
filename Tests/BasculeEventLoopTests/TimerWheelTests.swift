@testable import BasculeEventLoop
import Testing

@Suite struct TimerWheelTests {
    private func id(_ slot: UInt32) -> HandlerID {
        HandlerID(slot: slot, generation: 1)
    }

    private func advance(_ wheel: inout TimerWheel, to now: UInt64) -> [UInt32] {
        var due: [TimerWheel.Entry] = []
        wheel.advance(to: now, into: &due)
        return due.map(\.handler.slot)
    }

    @Test func firesEachTimerOnceAtOrAfterItsDeadlineAndNotBefore() {
        var wheel = TimerWheel(tickMs: 10, bucketCount: 64, nowMs: 1_000)
        wheel.schedule(id(1), deadlineMs: 1_050)
        wheel.schedule(id(2), deadlineMs: 1_200)
        var fired: [UInt32] = []
        fired += advance(&wheel, to: 1_040)
        #expect(fired.isEmpty)
        fired += advance(&wheel, to: 1_050)
        #expect(fired == [1])
        fired += advance(&wheel, to: 1_300)
        #expect(fired == [1, 2])
        #expect(wheel.isEmpty)
    }

    @Test func deadlinesBeyondOneTurnOfTheWheelWaitForTheirTurn() {
        // 64 buckets of 10 ms cover 640 ms; a 5 s deadline shares a bucket with earlier turns.
        var wheel = TimerWheel(tickMs: 10, bucketCount: 64, nowMs: 0)
        wheel.schedule(id(7), deadlineMs: 5_000)
        var fired = 0
        var now: UInt64 = 0
        while now < 4_990 {
            now += 10
            fired += advance(&wheel, to: now).count
            if now < 5_000 { #expect(fired == 0, "fired early at \(now)") }
        }
        fired += advance(&wheel, to: 5_000).count
        #expect(fired == 1)
    }

    @Test func aLongStallFiresEverythingOverdue() {
        var wheel = TimerWheel(tickMs: 8, bucketCount: 16, nowMs: 0)
        for slot in 0..<100 { wheel.schedule(id(UInt32(slot)), deadlineMs: UInt64(slot * 7)) }
        var fired = Set<UInt32>()
        fired.formUnion(advance(&wheel, to: 10_000))
        #expect(fired.count == 100)
        #expect(wheel.isEmpty)
    }

    @Test func reportsTheWaitUntilTheNextBucketSoTheLoopCanSleep() {
        var wheel = TimerWheel(tickMs: 10, bucketCount: 64, nowMs: 0)
        #expect(wheel.millisecondsUntilNextBucket(nowMs: 0) == nil)
        wheel.schedule(id(1), deadlineMs: 300)
        #expect(wheel.millisecondsUntilNextBucket(nowMs: 0) == 300)
    }

    @Test func theRememberedNextBucketFollowsEarlierTimersAndMovesOnOnceProcessed() {
        var wheel = TimerWheel(tickMs: 10, bucketCount: 64, nowMs: 0)
        wheel.schedule(id(1), deadlineMs: 500)
        #expect(wheel.millisecondsUntilNextBucket(nowMs: 0) == 500)
        wheel.schedule(id(2), deadlineMs: 200)
        #expect(wheel.millisecondsUntilNextBucket(nowMs: 0) == 200)
        wheel.schedule(id(3), deadlineMs: 400)
        #expect(wheel.millisecondsUntilNextBucket(nowMs: 100) == 100)
        #expect(advance(&wheel, to: 200) == [2])
        #expect(wheel.millisecondsUntilNextBucket(nowMs: 200) == 200)
        #expect(advance(&wheel, to: 400) == [3])
        #expect(wheel.millisecondsUntilNextBucket(nowMs: 400) == 100)
        // A deadline a whole turn ahead shares a bucket with an earlier tick: the wheel may
        // wake for that bucket early, never late.
        wheel.schedule(id(4), deadlineMs: 400 + 640 + 50)
        let wait = wheel.millisecondsUntilNextBucket(nowMs: 400)
        #expect(wait != nil && wait! <= 100)
        #expect(advance(&wheel, to: 500) == [1])
        #expect(advance(&wheel, to: 1_080).isEmpty)
        #expect(advance(&wheel, to: 1_090) == [4])
        #expect(wheel.millisecondsUntilNextBucket(nowMs: 1_090) == nil)
    }
}
