/// The parts of a check that say where it connects and what it says: `healthCheck.port`,
/// `healthCheck.address`, `healthCheck.steps` and a backend's `agent`.
enum CheckTargetValidation {
    static let stepKeys = ["send", "sendHex", "expect", "expectRegex", "timeoutMs"]
    static let agentKeys = ["port", "address", "intervalMs", "timeoutMs"]
    static let backendTargetKeys = ["port", "address"]
    private static let actionKeys = ["send", "sendHex", "expect", "expectRegex"]

    /// A port for a check target: 1...65535.
    static func port(_ object: ObjectAtPath, _ key: String, collector: inout ErrorCollector) -> UInt16? {
        collector.int(object, key, .range(1...65535)).map { UInt16($0) }
    }

    /// A host for a check target: an IP literal without brackets or port, as the checker
    /// never resolves names (the same rule as every other address in the file).
    static func host(_ object: ObjectAtPath, _ key: String, collector: inout ErrorCollector) -> String? {
        guard let text = collector.string(object, key) else { return nil }
        guard IPAddress(text) != nil else {
            collector.report(object.path.key(key),
                             "\(quotedForMessage(text)) is not an IP address (write an IPv4 or IPv6 literal, without port or brackets)")
            return nil
        }
        return text
    }

    static func steps(_ object: ObjectAtPath, checkTimeoutMs: Int, collector: inout ErrorCollector) -> [TCPCheckStep] {
        guard let elements = collector.array(object, "steps") else { return [] }
        var steps: [TCPCheckStep] = []
        for (index, element) in elements.enumerated() {
            if let step = step(element, at: object.path.key("steps").index(index), checkTimeoutMs: checkTimeoutMs,
                               collector: &collector) {
                steps.append(step)
            }
        }
        return steps
    }

    private static func step(_ value: JSONValue, at path: JSONPath, checkTimeoutMs: Int,
                             collector: inout ErrorCollector) -> TCPCheckStep? {
        guard let object = collector.object(value, at: path, allowedKeys: stepKeys) else { return nil }
        let present = actionKeys.filter { object.has($0) }
        guard present.count == 1, let key = present.first else {
            collector.report(path, present.isEmpty
                ? "a step needs one of \(actionKeys.joined(separator: ", "))"
                : "a step has one action, found \(present.joined(separator: " and "))")
            return nil
        }
        var timeoutMs = checkTimeoutMs
        if let timeout = collector.int(object, "timeoutMs", .positive) {
            if timeout > checkTimeoutMs {
                collector.report(path.key("timeoutMs"),
                                 "\(timeout) is longer than the check's timeoutMs (\(checkTimeoutMs)), which bounds every step")
            } else {
                timeoutMs = timeout
            }
        }
        guard let text = collector.string(object, key) else { return nil }
        if text.isEmpty {
            collector.report(path.key(key), "empty (a step must send or expect at least one byte)")
            return nil
        }
        let action: TCPCheckStep.Action
        switch key {
        case "send":
            action = .send(Array(text.utf8))
        case "sendHex":
            guard let bytes = hexBytes(text) else {
                collector.report(path.key(key), "\(quotedForMessage(text)) is not hex (pairs of 0-9, a-f; spaces allowed)")
                return nil
            }
            action = .send(bytes)
        case "expect":
            action = .expectSubstring(text)
        default:
            do {
                _ = try Regex(text)
            } catch {
                collector.report(path.key(key), "\(quotedForMessage(text)) is not a valid regular expression: \(error)")
                return nil
            }
            action = .expectRegex(text)
        }
        return TCPCheckStep(action, timeoutMs: timeoutMs)
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = text.utf8.filter { $0 != UInt8(ascii: " ") }
        guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// A backend's own `healthCheck` object: only where its checks connect.
    static func backendTarget(_ value: JSONValue, at path: JSONPath,
                              collector: inout ErrorCollector) -> (port: UInt16?, address: String?)? {
        guard let object = collector.object(value, at: path, allowedKeys: backendTargetKeys) else { return nil }
        return (port(object, "port", collector: &collector), host(object, "address", collector: &collector))
    }

    /// A backend's `agent` object; `port` is required.
    static func agent(_ value: JSONValue, at path: JSONPath, collector: inout ErrorCollector) -> AgentCheckConfig? {
        guard let object = collector.object(value, at: path, allowedKeys: agentKeys) else { return nil }
        if !object.has("port") {
            collector.report(path.key("port"), "missing (the agent's TCP port)")
        }
        let port = port(object, "port", collector: &collector)
        let address = host(object, "address", collector: &collector)
        var agent = AgentCheckConfig(port: port ?? 0, address: address)
        agent.intervalMs = collector.int(object, "intervalMs", .positive) ?? agent.intervalMs
        if let timeout = collector.int(object, "timeoutMs", .positive) {
            agent.timeoutMs = timeout
        }
        if agent.timeoutMs > agent.intervalMs {
            let key = object.has("timeoutMs") ? "timeoutMs" : "intervalMs"
            collector.report(path.key(key), "timeoutMs (\(agent.timeoutMs)) is longer than intervalMs (\(agent.intervalMs))")
            return nil
        }
        guard port != nil, address != nil || !object.has("address") else { return nil }
        return agent
    }
}
