import BasculePosix
import Glibc

/// One access-log line: JSON, one object per finished connection, so any log shipper parses it.
/// Service and backend names are `[A-Za-z0-9_.-]` (config validation), addresses are numeric,
/// so nothing here needs escaping.
enum AccessLogLine {
    static func append(to buffer: inout [UInt8], service: String, client: SocketAddress, backend: String?,
                       connectMs: Double?, durationMs: Double, bytesIn: UInt64, bytesOut: UInt64, end: String) {
        var line = "{\"time\":\"\(timestamp())\",\"service\":\"\(service)\",\"client\":\"\(client)\","
        line += "\"backend\":" + (backend.map { "\"\($0)\"" } ?? "null")
        line += ",\"connectMs\":" + (connectMs.map(milliseconds) ?? "null")
        line += ",\"durationMs\":\(milliseconds(durationMs)),\"bytesIn\":\(bytesIn),\"bytesOut\":\(bytesOut),\"end\":\"\(end)\"}\n"
        buffer.append(contentsOf: line.utf8)
    }

    /// UTC, millisecond precision: 2026-11-23T10:00:00.123Z.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = now.tv_nsec / 1_000_000
        let millisText = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millisText)Z"
    }

    private static func milliseconds(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
