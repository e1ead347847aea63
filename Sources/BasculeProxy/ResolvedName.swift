import BasculeConfig

/// One host name as the process follows it: the last good addresses, when they were learnt,
/// the last failure, and when to ask again. Pure state, so the keep-last-good and TTL rules
/// are tested without a resolver.
public struct ResolvedName: Sendable {
    public let host: HostName
    /// The last good answer's addresses, sorted; empty until a resolution has succeeded.
    public private(set) var addresses: [IPAddress] = []
    public private(set) var lastSuccessMs: UInt64?
    public private(set) var lastFailureMs: UInt64?
    public private(set) var lastFailure: ResolutionFailure?
    /// When `addresses` last changed (the first success included).
    public private(set) var lastChangeMs: UInt64?
    /// The TTL of the last good answer (nil: the source gave none).
    public private(set) var ttlSeconds: UInt32?
    public private(set) var nextRefreshMs: UInt64 = 0
    public private(set) var consecutiveFailures = 0
    /// Resolutions by result label ("success", and `ResolutionFailure.label`).
    public private(set) var results: [String: Int] = [:]

    public init(host: HostName) {
        self.host = host
    }

    public var hasResolved: Bool { lastSuccessMs != nil }

    /// Records one answer. A failure keeps the last good addresses and schedules a retry
    /// after `minRefreshMs`, doubling per consecutive failure up to `maxRefreshMs`; a success
    /// replaces them and schedules the next resolution on its TTL within those bounds.
    /// Answers whether `addresses` changed.
    public mutating func record(_ result: Result<NameAnswer, ResolutionFailure>, nowMs: UInt64,
                                settings: DNSSettings) -> Bool {
        switch result {
        case .success(let answer) where !answer.addresses.isEmpty:
            results["success", default: 0] += 1
            consecutiveFailures = 0
            lastSuccessMs = nowMs
            ttlSeconds = answer.ttlSeconds
            nextRefreshMs = nowMs + Self.refreshDelayMs(ttlSeconds: answer.ttlSeconds, settings: settings)
            var found = answer.addresses
            if let unanswered = answer.unanswered {
                found += addresses.filter { $0.isIPv6 == unanswered.ipv6 }
            }
            // IPv4 first, then by value: the order /status lists them in.
            let sorted = Set(found).sorted { a, b in
                a.isIPv6 != b.isIPv6 ? !a.isIPv6 : a.bytes.lexicographicallyPrecedes(b.bytes)
            }
            guard sorted != addresses || lastChangeMs == nil else { return false }
            addresses = sorted
            lastChangeMs = nowMs
            return true
        case .success:
            return record(.failure(.noAddresses), nowMs: nowMs, settings: settings)
        case .failure(let failure):
            results[failure.label, default: 0] += 1
            consecutiveFailures += 1
            lastFailureMs = nowMs
            lastFailure = failure
            nextRefreshMs = nowMs + Self.retryDelayMs(failures: consecutiveFailures, settings: settings)
            return false
        }
    }

    /// A reload asks every name again at once.
    public mutating func refreshNow(nowMs: UInt64) {
        nextRefreshMs = nowMs
    }

    /// The TTL bounded by the settings; no TTL counts as 0 (as fresh as allowed).
    public static func refreshDelayMs(ttlSeconds: UInt32?, settings: DNSSettings) -> UInt64 {
        let ttlMs = UInt64(ttlSeconds ?? 0) * 1000
        return min(max(ttlMs, UInt64(settings.minRefreshMs)), UInt64(settings.maxRefreshMs))
    }

    public static func retryDelayMs(failures: Int, settings: DNSSettings) -> UInt64 {
        let doubled = UInt64(settings.minRefreshMs) << UInt64(min(max(failures - 1, 0), 20))
        return min(doubled, UInt64(settings.maxRefreshMs))
    }
}
