#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The rules for a service's `healthCheck` object.
enum HealthCheckValidation {
    static let keys = ["type", "path", "expectStatus", "expectBody", "intervalMs", "timeoutMs",
                       "rise", "fall", "verify", "caFile", "serverName", "port", "address", "steps"]

    static func healthCheck(_ value: JSONValue, at path: JSONPath,
                            collector: inout ErrorCollector) -> HealthCheckConfig? {
        guard let object = collector.object(value, at: path, allowedKeys: keys) else { return nil }
        var check = HealthCheckConfig()
        check.type = collector.choice(object, "type", what: "health check type",
                                      choices: [HealthCheckType.tcp, .http, .https, .none]) ?? check.type
        if let checkPath = collector.string(object, "path") {
            if checkPath.hasPrefix("/") {
                check.path = checkPath
            } else {
                collector.report(path.key("path"), "\(quotedForMessage(checkPath)) must start with \"/\"")
            }
        }
        if let statuses = collector.array(object, "expectStatus") {
            if statuses.isEmpty {
                collector.report(path.key("expectStatus"), "empty list (expect at least one status code)")
            }
            let valid = statuses.enumerated().compactMap { index, status in
                collector.int(status, at: path.key("expectStatus").index(index), .range(100...599))
            }
            if !valid.isEmpty { check.expectStatus = valid }
        }
        check.expectBody = collector.string(object, "expectBody")
        let interval = collector.int(object, "intervalMs", .positive)
        let intervalKnown = interval != nil || !object.has("intervalMs")
        check.intervalMs = interval ?? check.intervalMs
        if let timeout = collector.int(object, "timeoutMs", .positive), intervalKnown {
            // A check that may outlast its interval would overlap the next one.
            if timeout > check.intervalMs {
                collector.report(path.key("timeoutMs"), "\(timeout) is longer than intervalMs (\(check.intervalMs))")
            } else {
                check.timeoutMs = timeout
            }
        } else if !object.has("timeoutMs"), intervalKnown, check.timeoutMs > check.intervalMs {
            collector.report(path.key("intervalMs"),
                             "\(check.intervalMs) is shorter than the default timeoutMs (\(check.timeoutMs)); set timeoutMs too")
        }
        check.rise = collector.int(object, "rise", .positive) ?? check.rise
        check.fall = collector.int(object, "fall", .positive) ?? check.fall
        check.verify = collector.bool(object, "verify") ?? check.verify
        if let caFile = collector.string(object, "caFile") {
            // Checked now rather than at the first HTTPS check, so a typo fails the load.
            // Relative paths are relative to the working directory, as the checker opens them.
            if caFile.utf8.contains(0) {
                collector.report(path.key("caFile"), "\(quotedForMessage(caFile)) contains a NUL character")
            } else if access(caFile, R_OK) == 0 {
                check.caFile = caFile
            } else {
                let reason = String(cString: strerror(errno))
                collector.report(path.key("caFile"), "\(quotedForMessage(caFile)) cannot be read: \(reason)")
            }
        }
        check.serverName = collector.string(object, "serverName")
        check.port = CheckTargetValidation.port(object, "port", collector: &collector)
        check.address = CheckTargetValidation.host(object, "address", collector: &collector)
        if object.has("steps") && check.type != .tcp {
            collector.report(path.key("steps"), "only a \"tcp\" check sends and expects (this one is \"\(check.type.rawValue)\")")
        } else {
            check.steps = CheckTargetValidation.steps(object, checkTimeoutMs: check.timeoutMs, collector: &collector)
        }
        return check
    }
}
