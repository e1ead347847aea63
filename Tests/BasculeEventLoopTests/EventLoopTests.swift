import BasculeEventLoop
import BasculeTestSupport
import CLinux
import Glibc
import Testing

private final class Recorder: EventHandler {
    var events: [(EpollEvents, UInt8)] = []
    var timers = 0
    func handleEvent(_ events: EpollEvents, tag: UInt8) { self.events.append((events, tag)) }
    func handleTimer(nowMs: UInt64) { timers += 1 }
}

@Suite struct EventLoopTests {
    @Test func deliversReadinessWithTheTagOfTheDescriptorThatFired() throws {
        let loop = try EventLoop()
        let recorder = Recorder()
        let id = loop.register(recorder)
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        try loop.watch(fds[0], events: [.readable, .edgeTriggered], handler: id, tag: 3)
        _ = write(fds[1], "x", 1)
        try loop.runOnce(maxWaitMs: 1000)
        #expect(recorder.events.count == 1)
        #expect(recorder.events.first?.0.contains(.readable) == true)
        #expect(recorder.events.first?.1 == 3)
    }

    @Test func eventsForAnUnregisteredHandlerAreDropped() throws {
        let loop = try EventLoop()
        let recorder = Recorder()
        let id = loop.register(recorder)
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        try loop.watch(fds[0], events: [.readable, .edgeTriggered], handler: id)
        loop.unregister(id)
        // The slot is reused by a new handler; the old registration must not reach it.
        let newcomer = Recorder()
        _ = loop.register(newcomer)
        _ = write(fds[1], "x", 1)
        try loop.runOnce(maxWaitMs: 100)
        #expect(recorder.events.isEmpty)
        #expect(newcomer.events.isEmpty)
    }

    @Test func timersWakeTheLoopWithoutAnyEvent() throws {
        let loop = try EventLoop()
        let recorder = Recorder()
        let id = loop.register(recorder)
        let start = cl_monotonic_ns()
        loop.schedule(id, atMs: loop.nowMs + 50)
        while recorder.timers == 0 && cl_monotonic_ns() - start < 2_000_000_000 {
            try loop.runOnce(maxWaitMs: -1)
        }
        let elapsedMs = (cl_monotonic_ns() - start) / 1_000_000
        #expect(recorder.timers == 1)
        #expect(elapsedMs >= 40 && elapsedMs < 1_000)
    }

    @Test func mailboxDeliversMessagesPostedFromAnotherThreadInOrder() throws {
        let loop = try EventLoop()
        let mailbox = try Mailbox<Int>()
        var received: [Int] = []
        let receiver = try MailboxReceiver(mailbox, on: loop) { received.append($0) }
        let poster = TestThread {
            for i in 0..<1000 { mailbox.post(i) }
        }
        poster.join()
        let start = cl_monotonic_ns()
        while received.count < 1000 && cl_monotonic_ns() - start < 2_000_000_000 {
            try loop.runOnce(maxWaitMs: 100)
        }
        withExtendedLifetime(receiver) {}
        #expect(received == Array(0..<1000))
    }

    @Test func syscallWrapperReturnsWouldBlockForEAGAINAndThrowsOtherErrorsWithTheCallName() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        var byte: UInt8 = 0
        let result = try syscall("read") { read(fds[0], &byte, 1) }
        guard case .wouldBlock = result else {
            Issue.record("expected wouldBlock")
            return
        }
        #expect(throws: SystemError(errno: ENOTCONN, call: "shutdown")) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            _ = try syscall("shutdown") { Int(Glibc.shutdown(fd, Int32(SHUT_WR))) }
        }
    }
}

private final class Rearming: EventHandler {
    let loop: EventLoop
    var id = HandlerID.unregistered
    var fired = 0
    init(loop: EventLoop) { self.loop = loop }
    func handleEvent(_ events: EpollEvents, tag: UInt8) {}
    func handleTimer(nowMs: UInt64) {
        fired += 1
        if fired < 3 { loop.schedule(id, atMs: nowMs + 10) }
    }
}

@Suite struct TimerRearmTests {
    @Test func aHandlerCanScheduleItsNextTimerFromInsideItsTimer() throws {
        // Idle timeouts re-arm from inside handleTimer; that used to be a fatal access conflict.
        let loop = try EventLoop()
        let handler = Rearming(loop: loop)
        handler.id = loop.register(handler)
        loop.schedule(handler.id, atMs: loop.nowMs + 10)
        let start = cl_monotonic_ns()
        while handler.fired < 3 && cl_monotonic_ns() - start < 2_000_000_000 {
            try loop.runOnce(maxWaitMs: -1)
        }
        #expect(handler.fired == 3)
    }
}
