/// Reading `listen` / `address` values. `listen` takes IP literals only. A backend `address`
/// may also be `name:port`: the name is not resolved here but by the running process, again
/// on every TTL (a balancer that resolved names once at load would pin whatever DNS said then).
struct ParsedEndpoint: Sendable, Equatable {
    var endpoint: Endpoint
    var address: IPAddress
}

enum EndpointParsing {
    static let hint = "(write an IPv4 literal or [IPv6]:port)"

    /// The endpoint, or a message that quotes the text and says what is wrong with it.
    static func parse(_ text: String, allowsPortZero: Bool = false) -> Result<ParsedEndpoint, EndpointParseError> {
        let quoted = quotedForMessage(text)
        let host: String
        let portText: String?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                return .failure(.init("\(quoted) has no closing ']'"))
            }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                portText = nil
            } else if rest.hasPrefix(":") {
                portText = String(rest.dropFirst())
            } else {
                return .failure(.init("\(quoted) has unexpected text after ']' (write [IPv6]:port)"))
            }
            guard let address = IPAddress(host), address.isIPv6 else {
                return .failure(.init("\(quoted) is not an IP address \(hint)"))
            }
            return withPort(portText, host: host, address: address, quoted: quoted, allowsPortZero: allowsPortZero)
        }
        let colons = text.utf8.count { $0 == UInt8(ascii: ":") }
        if colons > 1 {
            // Without brackets an IPv6 port is ambiguous (is "::1:80" port 80 of ::1?).
            if IPAddress(text) != nil || text.lastIndex(of: ":").map({ IPAddress(String(text[..<$0])) != nil }) == true {
                return .failure(.init("\(quoted) is an IPv6 address without brackets (write [IPv6]:port, e.g. [::1]:8080)"))
            }
            return .failure(.init("\(quoted) is not an IP address \(hint)"))
        }
        if colons == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        } else {
            host = text
            portText = nil
        }
        guard let address = IPAddress(host), !address.isIPv6 else {
            return .failure(.init("\(quoted) is not an IP address \(hint)"))
        }
        return withPort(portText, host: host, address: address, quoted: quoted, allowsPortZero: allowsPortZero)
    }

    private static func withPort(_ portText: String?, host: String, address: IPAddress,
                                 quoted: String, allowsPortZero: Bool) -> Result<ParsedEndpoint, EndpointParseError> {
        guard let portText, !portText.isEmpty else {
            return .failure(.init("\(quoted) has no port"))
        }
        guard portText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return .failure(.init("\(quoted) has an invalid port \(quotedForMessage(portText)) (must be 1...65535)"))
        }
        guard let port = Int(portText), ((allowsPortZero ? 0 : 1)...65535).contains(port) else {
            return .failure(.init("\(quoted) has port \(portText), out of range (must be 1...65535)"))
        }
        return .success(ParsedEndpoint(endpoint: Endpoint(address: address, host: host, port: UInt16(port)), address: address))
    }
}

/// A backend `address`: an IP literal, or a DNS name and a port.
enum BackendAddress: Equatable {
    case literal(ParsedEndpoint)
    case name(HostName, port: UInt16)
}

extension EndpointParsing {
    static let backendHint = "(write an IPv4 literal, [IPv6]:port, or a host name and a port)"

    /// An IP literal as `parse` reads it, else `name:port` with an RFC 1123 host name.
    static func parseBackend(_ text: String) -> Result<BackendAddress, EndpointParseError> {
        let literal = parse(text)
        if case .success(let parsed) = literal { return .success(.literal(parsed)) }
        let quoted = quotedForMessage(text)
        // Brackets, several colons, or a dotted quad with a bad port: an IP literal gone wrong,
        // whose message already says what to fix.
        let colons = text.utf8.count { $0 == UInt8(ascii: ":") }
        let host = colons == 1 ? String(text[..<text.firstIndex(of: ":")!]) : text
        if text.hasPrefix("[") || colons > 1 || IPAddress(host) != nil {
            return literal.map { .literal($0) }
        }
        if let problem = HostName.problem(host) {
            return .failure(.init("\(quoted) is neither an IP address nor a host name: \(problem) \(backendHint)"))
        }
        let name = HostName(host)!
        let portText = colons == 1 ? String(text[text.index(after: text.firstIndex(of: ":")!)...]) : ""
        guard !portText.isEmpty else {
            return .failure(.init("\(quoted) has no port (a backend by name needs one: \(name.text):PORT)"))
        }
        guard portText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return .failure(.init("\(quoted) has an invalid port \(quotedForMessage(portText)) (must be 1...65535)"))
        }
        guard let port = Int(portText), (1...65535).contains(port) else {
            return .failure(.init("\(quoted) has port \(portText), out of range (must be 1...65535)"))
        }
        return .success(.name(name, port: UInt16(port)))
    }
}

struct EndpointParseError: Error, Equatable {
    var message: String

    init(_ message: String) {
        self.message = message
    }
}

extension Endpoint {
    /// Parses `a.b.c.d:port` or `[IPv6]:port` with the same rules as config.json (for
    /// command-line flags such as `--listen`); nil when the text is not such an endpoint.
    /// `allowsPortZero` is for listeners that let the kernel pick a port.
    public init?(parsing text: String, allowsPortZero: Bool = false) {
        guard case .success(let parsed) = EndpointParsing.parse(text, allowsPortZero: allowsPortZero) else { return nil }
        self = parsed.endpoint
    }
}
