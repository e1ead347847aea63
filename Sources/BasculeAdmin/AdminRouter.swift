import BasculeConfig
import BasculePosix
import BasculeProxy
import Logging

/// Maps a request to its answer. Reads are open to anyone who can reach the port; changes go
/// through `RuntimeAPI`'s checks.
final class AdminRouter {
    let target: AdminTarget
    var token: String
    let log: Logger
    let startedAtMs: UInt64
    var extraMetrics: [() -> String] = []
    var extraStatus: [(key: String, value: () -> JSONValue)] = []
    var requestCounts: () -> [Int: Int] = { [:] }
    var history: TrafficHistory?

    init(target: AdminTarget, token: String, log: Logger, startedAtMs: UInt64) {
        self.target = target
        self.token = token
        self.log = log
        self.startedAtMs = startedAtMs
    }

    func response(for request: HTTPRequest, peer: SocketAddress) -> HTTPResponse {
        guard let segments = request.pathSegments else {
            return .error(.badRequest, "malformed percent-encoding in path")
        }
        switch segments.count {
        case 0:
            return readOnly(request) { .dashboard(tokenRequired: !token.isEmpty) }
        case 1 where ["healthz", "readyz", "status", "metrics"].contains(segments[0]):
            return readOnly(request) {
                switch segments[0] {
                case "healthz": return .text(.ok, "ok")
                case "readyz": return readiness()
                case "status": return .json(.ok, statusDocument())
                default: return metrics()
                }
            }
        case 1 where segments[0] == "reload":
            return RuntimeAPI(router: self).handleReload(request: request, peer: peer)
        case 1 where segments[0] == "drain" || segments[0] == "resume":
            return RuntimeAPI(router: self).handleNode(drain: segments[0] == "drain", request: request, peer: peer)
        case 3 where segments[0] == "services" && segments[2] == "backends":
            return RuntimeAPI(router: self).handleAdd(service: segments[1], request: request, peer: peer)
        case 4 where segments[0] == "services" && segments[2] == "backends":
            return RuntimeAPI(router: self).handleRemove(service: segments[1], backend: segments[3], request: request, peer: peer)
        case 5 where segments[0] == "services" && segments[2] == "backends"
                     && RuntimeAPI.Action(rawValue: segments[4]) != nil:
            let action = RuntimeAPI.Action(rawValue: segments[4])!
            let api = RuntimeAPI(router: self)
            return api.handle(action, service: segments[1], backend: segments[3], request: request, peer: peer)
        default:
            return .error(.notFound, "no such endpoint: \(request.path)")
        }
    }

    private func readOnly(_ request: HTTPRequest, _ body: () -> HTTPResponse) -> HTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            return HTTPResponse(.methodNotAllowed, body: "use GET\n", headers: [("Allow", "GET, HEAD")])
        }
        return body()
    }

    private func readiness() -> HTTPResponse {
        if let reason = target.nodeUnreadyReason {
            return .text(.serviceUnavailable, "not ready: " + reason)
        }
        let unready = target.servicesWithoutEligibleBackend()
        if unready.isEmpty { return .text(.ok, "ready") }
        return .text(.serviceUnavailable, "not ready: no eligible backend for " + unready.joined(separator: ", "))
    }

    func statusDocument() -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("uptimeSeconds", .double(Double(ProcessMetrics.uptimeSeconds() ?? 0))),
            ("ready", .bool(target.nodeUnreadyReason == nil && target.status().allSatisfy(\.hasEligibleBackend))),
            ("node", .string(target.nodeUnreadyReason ?? "serving")),
            ("services", StatusJSON.services(target.status())),
        ]
        if let history { members.append(("history", history.json)) }
        for extra in extraStatus { members.append((extra.key, extra.value())) }
        return .object(members)
    }

    private func metrics() -> HTTPResponse {
        var page = MetricsPage.render(target.status(), admin: requestCounts())
        for extra in extraMetrics {
            let text = extra()
            page += text.hasSuffix("\n") || text.isEmpty ? text : text + "\n"
        }
        return HTTPResponse(.ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: page)
    }
}
