/// What the backend answers to one request; decided without touching the socket so routing
/// can be tested on its own.
enum BackendReply {
    case document(status: Int, contentType: String, body: [UInt8], extraHeaders: [(name: String, value: String)])
    case content(ContentGenerator, size: UInt64, range: ByteRangeRequest)

    static func text(_ status: Int, _ text: String, extraHeaders: [(name: String, value: String)] = []) -> BackendReply {
        .document(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8), extraHeaders: extraHeaders)
    }
}

struct BackendRoutes {
    static let defaultContentSize: UInt64 = 1 << 20

    let configuration: BackendConfiguration
    let state: BackendState

    /// Admin routes are exempt from `/admin/slow`, so an operator can always recover promptly.
    static func isDelayed(_ head: HTTPRequestHead) -> Bool {
        !head.path.hasPrefix("/admin/")
    }

    func reply(to head: HTTPRequestHead) -> BackendReply {
        let path = head.path
        switch path {
        case "/health":
            return get(head) {
                state.failing.load(ordering: .relaxed) ? .text(503, "failing\n") : .text(200, "ok\n")
            }
        case "/whoami":
            return get(head) { .text(200, "\(configuration.name)\n") }
        case "/":
            return get(head) {
                let document = RoleDocument(role: configuration.role, name: configuration.name,
                                            failing: state.failing.load(ordering: .relaxed),
                                            activeConnections: state.activeConnections.load(ordering: .relaxed),
                                            requestsServed: state.requestsServed.load(ordering: .relaxed))
                return .document(status: 200, contentType: document.contentType, body: document.body, extraHeaders: [])
            }
        case "/admin/fail":
            return post(head) {
                state.failing.store(true, ordering: .relaxed)
                return .text(200, "failing\n")
            }
        case "/admin/recover":
            return post(head) {
                state.failing.store(false, ordering: .relaxed)
                state.slowMilliseconds.store(0, ordering: .relaxed)
                return .text(200, "ok\n")
            }
        case "/admin/slow":
            return post(head) {
                guard let text = head.queryItems["ms"], let ms = Int(text), ms >= 0, ms <= 600_000 else {
                    return .text(400, "expected ?ms=MILLISECONDS (0...600000)\n")
                }
                state.slowMilliseconds.store(ms, ordering: .relaxed)
                return .text(200, "slow \(ms) ms\n")
            }
        case "/admin/agent":
            return post(head) {
                guard let raw = head.queryItems["say"], let decoded = AgentResponder.percentDecoded(raw),
                      let text = AgentResponder.validated(decoded) else {
                    return .text(400, "expected ?say=TEXT (percent-encoded, one line, up to 200 bytes)\n")
                }
                state.agentSays.withLock { $0 = text }
                return .text(200, "agent says \(text)\n")
            }
        default:
            guard path.hasPrefix("/content/") else { return .text(404, "not found\n") }
            let name = path.dropFirst("/content/".count)
            guard !name.isEmpty, !name.contains("/") else { return .text(404, "not found\n") }
            return get(head) {
                var size = BackendRoutes.defaultContentSize
                if let text = head.queryItems["size"] {
                    guard let parsed = ByteCount.parse(text) else {
                        return .text(400, "size must be bytes or a number with K, KiB, M, MiB, G or GiB\n")
                    }
                    size = parsed
                }
                let range = ByteRangeRequest.resolve(head.header("Range"), length: size)
                return .content(ContentGenerator(name: String(name)), size: size, range: range)
            }
        }
    }

    private func get(_ head: HTTPRequestHead, _ handler: () -> BackendReply) -> BackendReply {
        guard head.method == "GET" || head.method == "HEAD" else {
            return .text(405, "method not allowed\n", extraHeaders: [("Allow", "GET, HEAD")])
        }
        return handler()
    }

    private func post(_ head: HTTPRequestHead, _ handler: () -> BackendReply) -> BackendReply {
        guard head.method == "POST" else {
            return .text(405, "method not allowed\n", extraHeaders: [("Allow", "POST")])
        }
        return handler()
    }
}
