import BasculeTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `clients.py loop` running in the lab's client namespace: a new connection after another,
/// each reported as it ends, so a test can wait for progress and count what users saw.
final class LabClientLoop {
    struct Summary {
        var attempts: Int
        var failed: Int
        /// The longest time between two successes in a row (about the loop's interval when
        /// nothing failed).
        var longestGapMs: Double
        /// The first few failures, for messages.
        var failures: [String]
    }

    private let process: ManagedProcess
    private var finished: Summary?

    init(lab: ScaleOutLab, target: String, interval: Double = 0.05) throws {
        process = try lab.startClients(["loop", "--target", target, "--interval", "\(interval)",
                                        "--connect-timeout", "1", "--timeout", "2", "--duration", "120"])
        try process.waitForLine(containing: "\"event\":\"started\"", timeout: .seconds(15))
    }

    deinit { process.terminate(grace: .seconds(2)) }

    var successes: Int { process.lines.filter { $0.text.contains("\"ok\":true") }.count }

    /// Waits until `count` attempts in all have succeeded.
    func waitForSuccesses(_ count: Int, timeout: Duration = .seconds(20)) throws {
        try waitUntil("\(count) successful connections in the client loop (output:\n\(process.recentOutput(limit: 5)))",
                      timeout: timeout, poll: .milliseconds(50)) { successes >= count }
    }

    /// Stops the loop and returns what it saw.
    func finish() throws -> Summary {
        if let finished { return finished }
        process.signal(SIGTERM)
        guard process.waitForExit(timeout: .seconds(10)) == 0,
              let line = process.lines.last(where: { $0.text.contains("\"event\":\"summary\"") }),
              let object = try JSONSerialization.jsonObject(with: Data(line.text.utf8)) as? [String: Any] else {
            throw ManagedProcess.Failure(description: "the client loop ended without a summary:\n\(process.recentOutput())")
        }
        let failures = process.lines.filter { $0.text.contains("\"ok\":false") }.prefix(5).map(\.text)
        let summary = Summary(attempts: object["attempts"] as? Int ?? 0, failed: object["failed"] as? Int ?? -1,
                              longestGapMs: object["longest_gap_ms"] as? Double ?? .infinity, failures: Array(failures))
        finished = summary
        return summary
    }
}
