import BasculePosix
import CLinux
import Glibc

/// Signals delivered as readable events on the control loop (signalfd), so reload and
/// shutdown run as ordinary loop code rather than in an async-signal handler.
public final class SignalSource: EventHandler {
    public let fd: Int32
    private let deliver: (Int32) -> Void

    /// Blocks `signals` for the calling thread; call before any other thread is started so
    /// every thread inherits the mask and only this descriptor receives them.
    public init(signals: [Int32], on loop: EventLoop, deliver: @escaping (Int32) -> Void) throws(SystemError) {
        _ = try signals.withUnsafeBufferPointer { buffer throws(SystemError) in
            try syscallValue("pthread_sigmask") { Int(cl_block_signals(buffer.baseAddress, Int32(buffer.count))) }
        }
        fd = Int32(try signals.withUnsafeBufferPointer { buffer throws(SystemError) in
            try syscallValue("signalfd") { Int(cl_signalfd(buffer.baseAddress, Int32(buffer.count))) }
        })
        self.deliver = deliver
        let id = loop.register(self)
        try loop.watch(fd, events: [.readable, .edgeTriggered], handler: id)
    }

    deinit { closeDescriptor(fd) }

    public func handleEvent(_ events: EpollEvents, tag: UInt8) {
        while true {
            let signal = cl_signalfd_read_signo(fd)
            if signal < 0 { return }
            deliver(signal)
        }
    }
}
