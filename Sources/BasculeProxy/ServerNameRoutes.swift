/// Which of the services sharing one listen address takes a connection, by the name and
/// protocols in its ClientHello. Built once per configuration; a lookup hashes the name in
/// place (case-folded) and allocates nothing.
///
/// Order: an exact name beats a wildcard (`*.example.com` matches one label, as in
/// certificates: `a.example.com`, not `example.com` nor `a.b.example.com`). Among routes for
/// the same pattern, one whose `alpn` lists a protocol the client offers beats one without
/// `alpn`; a route whose `alpn` the client does not offer is passed over. Names that match
/// nothing, ClientHellos without SNI and those offering ECH go to the default service; with
/// none they are refused.
public struct ServerNameRoutes: Sendable {
    public struct Route: Sendable, Equatable {
        /// Index of the service in the configuration.
        public var service: Int
        public var serverNames: [String]
        public var alpn: [String]

        public init(service: Int, serverNames: [String], alpn: [String] = []) {
            self.service = service
            self.serverNames = serverNames
            self.alpn = alpn
        }
    }

    public enum Pick: Equatable, Sendable {
        /// `pattern` is the name as configured ("www.example.com", "*.example.com"), for
        /// metrics and the access log.
        case named(service: Int, pattern: String)
        case byDefault(service: Int)
        case refused
    }

    struct Entry: Sendable {
        let service: Int
        let pattern: String
        /// Lowercase; for a wildcard, the suffix from its first dot (".example.com").
        let key: [UInt8]
        let alpn: [[UInt8]]
    }

    let entries: [Entry]
    let exact: [UInt64: [Int]]
    let wildcard: [UInt64: [Int]]
    public let defaultService: Int?
    /// Whether a connection that does not start with a TLS handshake goes to the default
    /// service (true) or is refused.
    public let nonTLSToDefault: Bool

    public init(routes: [Route], defaultService: Int?, nonTLSToDefault: Bool = false) {
        var entries: [Entry] = []
        var exact: [UInt64: [Int]] = [:]
        var wildcard: [UInt64: [Int]] = [:]
        for route in routes {
            let alpn = route.alpn.map { Array($0.utf8) }
            for name in route.serverNames {
                let lower = Array(name.lowercased().utf8)
                if lower.starts(with: Array("*.".utf8)) {
                    let key = Array(lower.dropFirst())
                    wildcard[Self.hash(key), default: []].append(entries.count)
                    entries.append(Entry(service: route.service, pattern: name, key: key, alpn: alpn))
                } else {
                    exact[Self.hash(lower), default: []].append(entries.count)
                    entries.append(Entry(service: route.service, pattern: name, key: lower, alpn: alpn))
                }
            }
        }
        self.entries = entries
        self.exact = exact
        self.wildcard = wildcard
        self.defaultService = defaultService
        self.nonTLSToDefault = nonTLSToDefault
    }

    public func pick(_ hello: ClientHello) -> Pick {
        if let name = hello.serverName {
            if let match = best(exact[Self.hash(name)], name: name, alpn: hello.alpn) { return match }
            if let dot = name.firstIndex(of: UInt8(ascii: ".")) {
                let suffix = UnsafeRawBufferPointer(rebasing: name[dot...])
                if let match = best(wildcard[Self.hash(suffix)], name: suffix, alpn: hello.alpn) { return match }
            }
        }
        return fallback
    }

    /// For a connection whose first bytes are not TLS.
    public var pickForNonTLS: Pick {
        nonTLSToDefault ? fallback : .refused
    }

    var fallback: Pick {
        defaultService.map { .byDefault(service: $0) } ?? .refused
    }

    private func best<Name: Collection<UInt8>>(_ candidates: [Int]?, name: Name, alpn: ALPNProtocols) -> Pick? {
        guard let candidates else { return nil }
        var withoutALPN: Entry?
        for index in candidates {
            let entry = entries[index]
            guard Self.equalIgnoringCase(entry.key, name) else { continue }
            if entry.alpn.isEmpty {
                if withoutALPN == nil { withoutALPN = entry }
            } else if entry.alpn.contains(where: { alpn.contains($0) }) {
                return .named(service: entry.service, pattern: entry.pattern)
            }
        }
        return withoutALPN.map { .named(service: $0.service, pattern: $0.pattern) }
    }

    private static func equalIgnoringCase<Name: Collection<UInt8>>(_ lower: [UInt8], _ name: Name) -> Bool {
        lower.count == name.count && zip(lower, name).allSatisfy { $0 == lowercase($1) }
    }

    static func lowercase(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// FNV-1a over the case-folded bytes: stable, and computed without building a String.
    static func hash<Name: Sequence<UInt8>>(_ name: Name) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name {
            hash = (hash ^ UInt64(lowercase(byte))) &* 0x0100_0000_01B3
        }
        return hash
    }
}
