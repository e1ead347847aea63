import BasculeConfig
import BasculePosix
import Glibc

/// What one finished connection leaves in the access log: HAProxy tcplog's fields, built at
/// close from what the connection already holds (nothing extra is kept on the relay path).
struct AccessLogRecord {
    /// `worker-sequence`: unique within one run of the process, in accept order per worker.
    var worker: Int
    var sequence: UInt64
    var service: String
    var listen: Endpoint
    var client: SocketAddress
    var backend: String?
    var backendAddress: SocketAddress?
    /// From accept to the first connect attempt: the wait for a PROXY header, else 0.
    var queueNs: UInt64?
    /// From the first connect attempt to the established connection, retries included.
    var connectNs: UInt64?
    var totalNs: UInt64
    var retries: Int
    var bytesIn: UInt64
    var bytesOut: UInt64
    /// Connections open to the service's backends and to this backend at close, this one included.
    var serviceActive: Int
    var backendActive: Int
    var end: CloseReason
    var backendClosedFirst: Bool
    /// The server-name route that took the connection (matched name, "default", "refused"),
    /// on an address routed by TLS server name; nil elsewhere.
    var route: String? = nil
}

/// One access-log line: JSON, one object per finished connection, so any log shipper parses it.
/// Service and backend names are `[A-Za-z0-9_.-]` (config validation), addresses are numeric,
/// so nothing here needs escaping.
public enum AccessLogLine {
    static func append(to buffer: inout [UInt8], _ record: AccessLogRecord) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var accepted = now
        let back = Int(record.totalNs)
        accepted.tv_sec -= back / 1_000_000_000
        accepted.tv_nsec -= back % 1_000_000_000
        if accepted.tv_nsec < 0 { accepted.tv_sec -= 1; accepted.tv_nsec += 1_000_000_000 }

        var line = "{\"time\":\"\(timestamp(now))\",\"accepted\":\"\(timestamp(accepted))\""
        line += ",\"id\":\"\(record.worker)-\(record.sequence)\",\"service\":\"\(record.service)\""
        line += ",\"listen\":\"\(record.listen)\",\"client\":\"\(record.client)\""
        // On an address routed by TLS server name: the matched name as configured (a validated
        // host name or wildcard), "default" or "refused"; absent elsewhere.
        if let route = record.route { line += ",\"route\":\"\(route)\"" }
        line += ",\"backend\":" + (record.backend.map { "\"\($0)\"" } ?? "null")
        line += ",\"backendAddress\":" + (record.backendAddress.map { "\"\($0)\"" } ?? "null")
        line += ",\"queueMs\":" + (record.queueNs.map(milliseconds) ?? "null")
        line += ",\"connectMs\":" + (record.connectNs.map(milliseconds) ?? "null")
        line += ",\"durationMs\":\(milliseconds(record.totalNs)),\"retries\":\(record.retries)"
        line += ",\"bytesIn\":\(record.bytesIn),\"bytesOut\":\(record.bytesOut)"
        line += ",\"serviceActive\":\(record.serviceActive),\"backendActive\":\(record.backendActive)"
        line += ",\"termination\":\"\(record.end.terminationCode)\""
        line += ",\"end\":\"\(record.end.accessLogEnd(backendClosedFirst: record.backendClosedFirst))\"}\n"
        buffer.append(contentsOf: line.utf8)
    }

    /// UTC, millisecond precision: 2026-11-23T10:00:00.123Z. Also the process log's clock.
    public static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return timestamp(now)
    }

    static func timestamp(_ time: timespec) -> String {
        var seconds = time.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = time.tv_nsec / 1_000_000
        let millisText = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millisText)Z"
    }

    /// Two decimals of a millisecond (10 µs), from nanoseconds.
    private static func milliseconds(_ nanoseconds: UInt64) -> String {
        let hundredths = (nanoseconds + 5_000) / 10_000
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}

extension ServiceTable {
    /// Connections open to any backend of the service: read only when a line is written.
    var activeConnections: Int {
        var total = 0
        for counters in counters { total += counters.active.load(ordering: .relaxed) }
        return total
    }
}
