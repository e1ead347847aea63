import ArgumentParser
import BasculeProxy
import Glibc
import Logging

/// How the process log is written on standard error.
enum LogFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// `ts=… level=… logger=… msg="…" key=value`: readable in a terminal, parsed by Loki,
    /// Vector and `journalctl -o cat | …` alike.
    case logfmt
    /// One JSON object per line, for shippers that want nothing else.
    case json
}

/// The process log: one line per event, millisecond UTC timestamps, values quoted so a space
/// never splits a field. Under systemd (JOURNAL_STREAM names our standard error) each line
/// starts with the sd-daemon `<N>` priority prefix, so `journalctl -p err` finds the errors.
struct ProcessLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    let journalPrefix: Bool
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, format: LogFormat, journalPrefix: Bool, logLevel: Logger.Level) {
        self.label = label
        self.format = format
        self.journalPrefix = journalPrefix
        self.logLevel = logLevel
        metadataProvider = LoggingSystem.metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let own = event.metadata { fields.merge(own) { _, new in new } }
        var line = journalPrefix ? "<\(Self.syslogPriority(event.level))>" : ""
        line += Self.format(format, time: AccessLogLine.timestamp(), level: event.level, logger: label,
                            message: event.message.description, fields: fields)
        line += "\n"
        // One write per line: lines from several threads never interleave mid-line.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    static func format(_ format: LogFormat, time: String, level: Logger.Level, logger: String, message: String,
                       fields: Logger.Metadata) -> String {
        let keys = fields.keys.sorted()
        switch format {
        case .logfmt:
            var line = "ts=\(time) level=\(level) logger=\(logfmtValue(logger)) msg=\(logfmtValue(message))"
            for key in keys { line += " \(logfmtKey(key))=\(logfmtValue(text(fields[key]!)))" }
            return line
        case .json:
            var line = "{\"ts\":\"\(time)\",\"level\":\"\(level)\",\"logger\":\(jsonString(logger)),\"msg\":\(jsonString(message))"
            for key in keys where !["ts", "level", "logger", "msg"].contains(key) {
                line += ",\(jsonString(key)):\(jsonString(text(fields[key]!)))"
            }
            return line + "}"
        }
    }

    /// syslog(3) priorities, which journald reads from the `<N>` prefix.
    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the journal socket it connected to our
    /// standard error; only when stderr is still that socket do prefixes belong in the output.
    static func standardErrorIsTheJournal() -> Bool {
        guard let value = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(STDERR_FILENO, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }

    private static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): return string
        case .stringConvertible(let convertible): return convertible.description
        default: return value.description
        }
    }

    private static func logfmtKey(_ key: String) -> String {
        String(key.map { $0 == " " || $0 == "=" || $0 == "\"" ? "_" : $0 })
    }

    /// Bare when it can be, else double-quoted with `\"`, `\\` and `\n` escaped.
    static func logfmtValue(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.unicodeScalars.contains {
            $0 == " " || $0 == "=" || $0 == "\"" || $0 == "\\" || $0.value < 0x20 || $0.value == 0x7F
        }
        guard needsQuotes else { return value }
        return "\"" + escaped(value) + "\""
    }

    static func jsonString(_ value: String) -> String { "\"" + escaped(value) + "\"" }

    /// The escapes JSON and logfmt share.
    private static func escaped(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count + 2)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
