import BasculeConfig
/// The small document `GET /` returns for each role.
struct RoleDocument {
    /// Packages a publishing backend lists; sizes span tiny to streaming-sized.
    static let packages: [(name: String, size: UInt64)] = [
        ("pkg-a", 64 << 10),
        ("pkg-b", 1 << 20),
        ("pkg-c", 16 << 20),
        ("pkg-d", 256 << 20),
    ]

    let contentType: String
    let body: [UInt8]

    init(role: BackendRole, name: String, failing: Bool, activeConnections: Int, requestsServed: Int) {
        switch role {
        case .publishing:
            var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            xml += "<packages backend=\"\(RoleDocument.xmlEscaped(name))\">\n"
            for package in RoleDocument.packages {
                xml += "  <package name=\"\(package.name)\" size=\"\(package.size)\" "
                    + "href=\"/content/\(package.name)?size=\(package.size)\"/>\n"
            }
            xml += "</packages>\n"
            contentType = "application/xml; charset=utf-8"
            body = Array(xml.utf8)
        case .management:
            let json = "{\"backend\":\(JSONValue.string(name).rendered),\"role\":\"management\","
                + "\"status\":\"\(failing ? "failing" : "ok")\",\"activeConnections\":\(activeConnections),"
                + "\"requestsServed\":\(requestsServed)}\n"
            contentType = "application/json"
            body = Array(json.utf8)
        case .reporting:
            var csv = "backend,metric,value\n"
            let field = RoleDocument.csvEscaped(name)
            csv += "\(field),status,\(failing ? "failing" : "ok")\n"
            csv += "\(field),active_connections,\(activeConnections)\n"
            csv += "\(field),requests_served,\(requestsServed)\n"
            contentType = "text/csv; charset=utf-8"
            body = Array(csv.utf8)
        }
    }

    static func xmlEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }

    static func csvEscaped(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: Character, with replacement: String) -> String {
        var out = ""
        for character in self { if character == target { out += replacement } else { out.append(character) } }
        return out
    }
}
