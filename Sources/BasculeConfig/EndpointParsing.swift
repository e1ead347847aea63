/// Reading `listen` / `address` values. Only IP literals are accepted: a balancer that
/// resolved names at load time would pin whatever DNS said once and silently keep it.
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
