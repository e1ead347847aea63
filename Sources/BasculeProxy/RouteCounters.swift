import Synchronization

/// Connections counted per route of one address that routes by TLS server name, shared by
/// the workers: a label per configured name, plus `default` and `refused`, and why
/// ClientHellos were refused. Bumped once per connection with a relaxed add.
public final class RouteCounters: Sendable {
    public final class Counter: Sendable {
        public let value = Atomic<Int>(0)
    }

    public enum Rejection: Int, CaseIterable, Sendable {
        case timeout, notTLS, malformed, tooLarge, closed

        public var label: String {
            switch self {
            case .timeout: "timeout"
            case .notTLS: "not_tls"
            case .malformed: "malformed"
            case .tooLarge: "too_large"
            case .closed: "closed"
            }
        }
    }

    /// The listen address as configured, for labels.
    public let listen: String
    /// Route labels in configuration order, then "default" (when there is one), then "refused".
    public let labels: [String]
    /// The service each label leads to ("" for refused).
    public let services: [String]
    public let routed: [Counter]
    public let rejections: [Counter]
    /// By label and service table id: one name may lead to two services by ALPN.
    let index: [Key: Int]

    struct Key: Hashable {
        let label: String
        let service: Int
    }

    init(listen: String, routes: [(label: String, service: String, id: Int)]) {
        self.listen = listen
        labels = routes.map(\.label)
        services = routes.map(\.service)
        routed = routes.map { _ in Counter() }
        rejections = Rejection.allCases.map { _ in Counter() }
        var index: [Key: Int] = [:]
        for (position, route) in routes.enumerated() { index[Key(label: route.label, service: route.id)] = position }
        self.index = index
    }

    func count(_ pick: ServerNameRoutes.Pick) {
        let key = switch pick {
        case .named(let service, let pattern): Key(label: pattern, service: service)
        case .byDefault(let service): Key(label: "default", service: service)
        case .refused: Key(label: "refused", service: -1)
        }
        if let position = index[key] { routed[position].value.add(1, ordering: .relaxed) }
    }

    func count(_ rejection: Rejection) {
        rejections[rejection.rawValue].value.add(1, ordering: .relaxed)
    }
}
