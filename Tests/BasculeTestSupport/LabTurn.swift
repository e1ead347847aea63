#if canImport(Glibc)
import Glibc
#endif

/// One network-namespace lab at a time, across suites and across test processes.
///
/// A lab (the scale-out lab, the XDP lab) starts dozens of processes and drives a thousand
/// clients; two of them at once on a small machine time each other's clients out, and the
/// failures look like the data plane's. Swift Testing serialises tests only within a suite, so
/// the labs take turns through an exclusive `flock` on a file every test process shares. The
/// wait is asynchronous: a waiting lab holds no thread the running tests need.
public final class LabTurn: Sendable {
    public static let path = "/tmp/bascule-tests-namespace-lab.lock"
    private let descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Waits for the turn; throws `WaitTimeout` if another lab holds it longer than `timeout`.
    public static func take(timeout: Duration = .seconds(600)) async throws -> LabTurn {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else {
            throw WaitTimeout(description: "cannot open \(path): errno \(errno)")
        }
        let deadline = ContinuousClock.now + timeout
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < deadline else {
                close(descriptor)
                throw WaitTimeout(description: "timed out after \(timeout) waiting for the namespace lab's turn (\(path))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return LabTurn(descriptor: descriptor)
    }

    /// Closing the descriptor releases the lock, also when the process dies.
    deinit { close(descriptor) }
}
