import BasculeConfig

/// What `bascule ctl` prints for people: aligned tables and one-line answers, built from the
/// admin endpoint's JSON (which `--json` prints untouched).
enum CtlOutput {
    static func statusTable(_ document: JSONValue) -> String {
        var lines = ["node: \(document["node"]?.text ?? "?")", ""]
        var services = [["SERVICE", "LISTEN", "STRATEGY", "READY", "ACTIVE"]]
        var backends = [["SERVICE", "BACKEND", "ADDRESS", "STATE", "WEIGHT", "ACTIVE", "TOTAL", "LAST CHANGE"]]
        for service in document["services"]?.elements ?? [] {
            let name = service["name"]?.text ?? "?"
            services.append([name, service["listen"]?.text ?? "", service["strategy"]?.text ?? "",
                             service["ready"] == .bool(true) ? "yes" : "NO", service["activeConnections"]?.text ?? ""])
            for backend in service["backends"]?.elements ?? [] {
                let state = backend["state"]?.text ?? "?"
                backends.append([name, backend["name"]?.text ?? "?", backend["address"]?.text ?? "",
                                 backend["backup"] == .bool(true) ? state + " (backup)" : state,
                                 backend["weight"]?.text ?? "", backend["activeConnections"]?.text ?? "",
                                 backend["totalConnections"]?.text ?? "", backend["lastChangeReason"]?.text ?? ""])
            }
        }
        lines += table(services) + [""] + table(backends)
        if let pending = document["settingsAwaitingRestart"]?.elements, !pending.isEmpty {
            lines += ["", "awaiting a restart or handover (bascule upgrade): " + pending.compactMap(\.text).joined(separator: ", ")]
        }
        return lines.joined(separator: "\n")
    }

    /// After drain, disable, enable or weight: what the backend is now.
    static func backend(_ document: JSONValue) -> String {
        let service = document["service"]?.text ?? "?"
        let backend = document["backend"]?.text ?? "?"
        var line = "\(service)/\(backend): \(document["state"]?.text ?? document["action"]?.text ?? "done")"
        if let weight = document["weight"]?.text { line += ", weight \(weight)" }
        return line
    }

    /// After add-backend: the new backend and its state.
    static func added(_ document: JSONValue) -> String {
        let name = "\(document["service"]?.text ?? "?")/\(document["backend"]?.text ?? "?")"
        return "\(name): added at runtime (\(document["status"]?["state"]?.text ?? "added")); not written to the file"
    }

    /// After remove-backend: it drains, and when it goes at the latest.
    static func removing(_ document: JSONValue) -> String {
        let name = "\(document["service"]?.text ?? "?")/\(document["backend"]?.text ?? "?")"
        let timeout = document["drainTimeoutMs"].map { "\($0.rendered) ms" } ?? "the drain timeout"
        return "\(name): draining; removed once its connections end, at the latest after \(timeout)"
    }

    static func node(_ document: JSONValue) -> String {
        "node: \(document["node"]?.text ?? "?")"
    }

    /// The single message for an answer other than 2xx: the endpoint's own reason, or every
    /// configuration error of a refused reload.
    static func failure(status: Int, document: JSONValue?) -> String {
        if let errors = document?["errors"]?.elements {
            // A refused reload lists lines; a refused backend (add-backend) lists {path, message}.
            let texts = errors.compactMap { error in
                error.text ?? error["path"]?.text.map { "\($0): \(error["message"]?.text ?? "")" }
            }
            let what = document?["reloaded"] == nil ? (document?["error"]?.text ?? "refused")
                : "reload refused, the running configuration is kept"
            return "\(what) (\(texts.count) error\(texts.count == 1 ? "" : "s")):\n"
                + texts.map { "  " + $0 }.joined(separator: "\n")
        }
        if let reason = document?["error"]?.text { return "\(reason) (HTTP \(status))" }
        return "the admin endpoint answered HTTP \(status)"
    }

    /// True when `backend` is up and no other backend of `service` is: taking it out leaves
    /// the service nothing to send a new connection to.
    static func isLastEligible(_ document: JSONValue, service: String, backend: String) -> Bool {
        guard let entry = document["services"]?.elements?.first(where: { $0["name"]?.text == service }) else { return false }
        let backends = entry["backends"]?.elements ?? []
        guard let target = backends.first(where: { $0["name"]?.text == backend }), target["state"]?.text == "up" else {
            return false
        }
        return !backends.contains { $0["name"]?.text != backend && $0["state"]?.text == "up" }
    }

    /// Columns padded to their widest cell, two spaces apart; the last column is not padded.
    static func table(_ rows: [[String]]) -> [String] {
        guard let columns = rows.map(\.count).max() else { return [] }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
    }
}

extension JSONValue {
    /// Strings as they are, numbers as written, booleans as true/false.
    fileprivate var text: String? {
        switch self {
        case .string(let string): return string
        case .number(let number): return number.literal
        case .bool(let flag): return "\(flag)"
        default: return nil
        }
    }

    fileprivate var elements: [JSONValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}
