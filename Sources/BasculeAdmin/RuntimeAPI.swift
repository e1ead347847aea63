import BasculeConfig
import BasculePosix
import BasculeProxy
import Logging

/// Drain, disable, enable and weight changes. The checks run in an order that leaks nothing
/// to an unauthorised caller: method, then who is asking, then which backend, then the value.
struct RuntimeAPI {
    enum Action: String {
        case drain, disable, enable, weight

        var method: String { self == .weight ? "PUT" : "POST" }
    }

    /// The range `bascule ctl weight` accepts.
    static let maxWeight = 1000

    let router: AdminRouter

    func handle(_ action: Action, service: String, backend: String, request: HTTPRequest, peer: SocketAddress) -> HTTPResponse {
        let route = "\(request.method) \(request.path)"
        guard request.method == action.method else {
            return Self.methodNotAllowed(use: action.method)
        }
        if let refusal = authorise(request, peer: peer, route: route) { return refusal }

        guard let serviceIndex = router.target.serviceIndex(named: service) else {
            return .error(.notFound, "no service named \"\(service)\"")
        }
        guard let backendIndex = router.target.backendIndex(service: serviceIndex, named: backend) else {
            return .error(.notFound, "service \"\(service)\" has no backend named \"\(backend)\"")
        }

        let reason = "admin API: \(action.rawValue) from \(peer.host)"
        switch action {
        case .drain: router.target.setAdminState(service: serviceIndex, backend: backendIndex, .draining, reason: reason)
        case .disable: router.target.setAdminState(service: serviceIndex, backend: backendIndex, .disabled, reason: reason)
        case .enable: router.target.setAdminState(service: serviceIndex, backend: backendIndex, .enabled, reason: reason)
        case .weight:
            guard let weight = Self.parseWeight(request.body) else {
                return .error(.badRequest, "weight must be an integer from 1 to \(Self.maxWeight), as a plain number or {\"weight\": N}")
            }
            router.target.setWeight(service: serviceIndex, backend: backendIndex, weight: weight, reason: reason + " to \(weight)")
        }
        router.log.notice("admin API: backend changed", metadata: [
            "peer": "\(peer)", "route": "\(route)", "service": "\(service)", "backend": "\(backend)", "action": "\(action.rawValue)",
        ])

        var members: [(String, JSONValue)] = [("service", .string(service)), ("backend", .string(backend)),
                                              ("action", .string(action.rawValue))]
        let statuses = router.target.status()
        if statuses.indices.contains(serviceIndex), statuses[serviceIndex].backends.indices.contains(backendIndex) {
            let current = statuses[serviceIndex].backends[backendIndex]
            members += [("state", .string(current.state)), ("admin", .string(current.admin.rawValue)),
                        ("weight", .int(current.weight))]
        }
        return .json(.ok, .object(members))
    }

    /// `POST /services/{service}/backends`: adds the posted backend (not written to the file).
    func handleAdd(service: String, request: HTTPRequest, peer: SocketAddress) -> HTTPResponse {
        let route = "\(request.method) \(request.path)"
        guard request.method == "POST" else { return Self.methodNotAllowed(use: "POST") }
        if let refusal = authorise(request, peer: peer, route: route) { return refusal }
        let name: String
        do {
            name = try router.target.addBackend(service: service, json: request.body, reason: "admin API: add from \(peer.host)")
        } catch {
            return Self.refused(error)
        }
        router.log.notice("admin API: backend added", metadata: [
            "peer": "\(peer)", "route": "\(route)", "service": "\(service)", "backend": "\(name)",
        ])
        return .json(.created, backendDocument(service: service, backend: name, action: "add"))
    }

    /// `DELETE /services/{service}/backends/{backend}`: drains it, then removes it.
    func handleRemove(service: String, backend: String, request: HTTPRequest, peer: SocketAddress) -> HTTPResponse {
        let route = "\(request.method) \(request.path)"
        guard request.method == "DELETE" else { return Self.methodNotAllowed(use: "DELETE") }
        if let refusal = authorise(request, peer: peer, route: route) { return refusal }
        let timeoutMs: Int
        do {
            timeoutMs = try router.target.removeBackend(service: service, backend: backend,
                                                        reason: "admin API: remove from \(peer.host)")
        } catch {
            return Self.refused(error)
        }
        router.log.notice("admin API: backend removal started", metadata: [
            "peer": "\(peer)", "route": "\(route)", "service": "\(service)", "backend": "\(backend)",
        ])
        return .json(.accepted, backendDocument(service: service, backend: backend, action: "remove",
                                                extra: [("drainTimeoutMs", .int(timeoutMs))]))
    }

    private func backendDocument(service: String, backend: String, action: String,
                                 extra: [(String, JSONValue)] = []) -> JSONValue {
        var members: [(String, JSONValue)] = [("service", .string(service)), ("backend", .string(backend)),
                                              ("action", .string(action))] + extra
        let current = router.target.status().first { $0.name == service }?.backends.first { $0.name == backend }
        if let current { members.append(("status", StatusJSON.backend(current))) }
        return .object(members)
    }

    static func refused(_ refusal: RuntimeChangeRefusal) -> HTTPResponse {
        switch refusal {
        case .noSuchService, .noSuchBackend: return .error(.notFound, refusal.description)
        case .conflict: return .error(.conflict, refusal.description)
        case .failed: return .error(.internalServerError, refusal.description)
        case .invalid(let errors):
            return .json(.unprocessableEntity, .object([
                ("error", .string("the backend is invalid")),
                ("errors", .array(errors.map { .object([("path", .string($0.path)), ("message", .string($0.message))]) })),
            ]))
        }
    }

    /// `POST /reload`: the same as SIGHUP, answering with what happened.
    func handleReload(request: HTTPRequest, peer: SocketAddress) -> HTTPResponse {
        let route = "\(request.method) \(request.path)"
        guard request.method == "POST" else {
            return Self.methodNotAllowed(use: "POST")
        }
        if let refusal = authorise(request, peer: peer, route: route) { return refusal }
        let errors = router.target.reloadConfiguration()
        router.log.notice("admin API: reload", metadata: ["peer": "\(peer)", "applied": "\(errors.isEmpty)"])
        if errors.isEmpty {
            return .json(.ok, .object([("reloaded", .bool(true))]))
        }
        return .json(.unprocessableEntity, .object([("reloaded", .bool(false)),
                                                    ("errors", .array(errors.map { .string($0) }))]))
    }

    /// `POST /drain` and `POST /resume`: the whole node leaves (or rejoins) the address it
    /// shares with other nodes, by readiness only; nothing is refused or closed.
    func handleNode(drain: Bool, request: HTTPRequest, peer: SocketAddress) -> HTTPResponse {
        let route = "\(request.method) \(request.path)"
        guard request.method == "POST" else {
            return Self.methodNotAllowed(use: "POST")
        }
        if let refusal = authorise(request, peer: peer, route: route) { return refusal }
        router.target.setNodeDrained(drain, reason: "admin API: \(drain ? "drain" : "resume") from \(peer.host)")
        router.log.notice("admin API: node \(drain ? "drained" : "resumed")", metadata: ["peer": "\(peer)"])
        return .json(.ok, .object([("node", .string(router.target.nodeUnreadyReason ?? "serving"))]))
    }

    /// With a token: the bearer token, whoever asks. Without one: loopback callers only, and
    /// never a browser request made on behalf of another site (a page elsewhere can POST to
    /// 127.0.0.1 without any preflight, and DNS rebinding can make its Host look local).
    private func authorise(_ request: HTTPRequest, peer: SocketAddress, route: String) -> HTTPResponse? {
        if let origin = request.header("origin"), let host = request.header("host"),
           origin != "http://\(host)" && origin != "https://\(host)" {
            router.log.warning("admin API: refused a cross-origin request", metadata: [
                "peer": "\(peer)", "route": "\(route)", "origin": "\(origin)",
            ])
            return .error(.forbidden, "cross-origin requests are refused")
        }
        if !router.token.isEmpty {
            let presented = request.header("authorization").flatMap { value -> String? in
                let scheme = value.prefix(7)
                return scheme.lowercased() == "bearer " ? String(value.dropFirst(7)) : nil
            }
            guard let presented, Self.constantTimeEquals(presented, router.token) else {
                router.log.warning("admin API: rejected request with a wrong or missing token", metadata: [
                    "peer": "\(peer)", "route": "\(route)",
                ])
                return HTTPResponse(.unauthorized, contentType: "application/json",
                                    body: JSONValue.object([("error", .string("a valid bearer token is required"))]).rendered + "\n",
                                    headers: [("WWW-Authenticate", "Bearer realm=\"bascule\"")])
            }
            return nil
        }
        guard peer.isLoopback else {
            router.log.warning("admin API: refused a non-loopback caller (no token configured)", metadata: [
                "peer": "\(peer)", "route": "\(route)",
            ])
            return .error(.forbidden, "no admin token is configured, so changes are accepted from loopback only")
        }
        if let host = request.header("host"), !Self.isAddressLiteralOrLocalhost(host) {
            return .error(.forbidden, "no admin token is configured, so the Host must be an address, not a name")
        }
        return nil
    }

    /// A page reached through DNS rebinding carries its own domain name in Host; a client
    /// on this machine names the admin port by address (or as localhost).
    static func isAddressLiteralOrLocalhost(_ host: String) -> Bool {
        var name = Substring(host)
        if name.hasPrefix("[") {
            name = name.dropFirst().prefix { $0 != "]" }
        } else if let colon = name.lastIndex(of: ":") {
            name = name[..<colon]
        }
        if name == "localhost" { return true }
        // "127.attacker.example" is a name, and names are what an attacker controls.
        return IPAddress(String(name)) != nil
    }

    static func methodNotAllowed(use method: String) -> HTTPResponse {
        HTTPResponse(.methodNotAllowed, contentType: "application/json",
                     body: JSONValue.object([("error", .string("use \(method)"))]).rendered + "\n",
                     headers: [("Allow", method)])
    }

    /// The time taken depends only on the lengths, never on where the first difference is.
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        difference |= x.count == y.count ? 0 : 1
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }

    /// "5", " 5\n" or {"weight": 5}.
    static func parseWeight(_ body: [UInt8]) -> Int? {
        var text = Substring(String(decoding: body, as: UTF8.self)).trimmingWhitespace
        if text.hasPrefix("{") && text.hasSuffix("}") {
            text = text.dropFirst().dropLast().trimmingWhitespace
            guard text.hasPrefix("\"weight\"") else { return nil }
            text = text.dropFirst(8).trimmingWhitespace
            guard text.hasPrefix(":") else { return nil }
            text = text.dropFirst().trimmingWhitespace
        }
        guard !text.isEmpty, text.count <= 6, text.allSatisfy(\.isASCIIDigit), let weight = Int(text),
              (1...maxWeight).contains(weight) else { return nil }
        return weight
    }
}

extension Substring {
    var trimmingWhitespace: Substring {
        guard let first = firstIndex(where: { !$0.isWhitespace }),
              let last = lastIndex(where: { !$0.isWhitespace }) else { return self[endIndex...] }
        return self[first...last]
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
