import BasculeConfig
struct HTTPStatus: Sendable, Equatable {
    let code: Int
    let reason: String

    static let ok = HTTPStatus(code: 200, reason: "OK")
    static let created = HTTPStatus(code: 201, reason: "Created")
    static let accepted = HTTPStatus(code: 202, reason: "Accepted")
    static let badRequest = HTTPStatus(code: 400, reason: "Bad Request")
    static let unauthorized = HTTPStatus(code: 401, reason: "Unauthorized")
    static let forbidden = HTTPStatus(code: 403, reason: "Forbidden")
    static let notFound = HTTPStatus(code: 404, reason: "Not Found")
    static let methodNotAllowed = HTTPStatus(code: 405, reason: "Method Not Allowed")
    static let conflict = HTTPStatus(code: 409, reason: "Conflict")
    static let requestTimeout = HTTPStatus(code: 408, reason: "Request Timeout")
    static let contentTooLarge = HTTPStatus(code: 413, reason: "Content Too Large")
    static let unprocessableEntity = HTTPStatus(code: 422, reason: "Unprocessable Content")
    static let headersTooLarge = HTTPStatus(code: 431, reason: "Request Header Fields Too Large")
    static let internalServerError = HTTPStatus(code: 500, reason: "Internal Server Error")
    static let notImplemented = HTTPStatus(code: 501, reason: "Not Implemented")
    static let serviceUnavailable = HTTPStatus(code: 503, reason: "Service Unavailable")
    static let versionNotSupported = HTTPStatus(code: 505, reason: "HTTP Version Not Supported")
}

struct HTTPResponse: Sendable {
    var status: HTTPStatus
    var contentType: String
    var headers: [(name: String, value: String)] = []
    var body: [UInt8]

    init(_ status: HTTPStatus, contentType: String = "text/plain; charset=utf-8", body: String,
         headers: [(name: String, value: String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = Array(body.utf8)
        self.headers = headers
    }

    static func text(_ status: HTTPStatus, _ text: String) -> HTTPResponse {
        HTTPResponse(status, body: text.hasSuffix("\n") ? text : text + "\n")
    }

    static func json(_ status: HTTPStatus, _ value: JSONValue) -> HTTPResponse {
        HTTPResponse(status, contentType: "application/json", body: value.rendered + "\n")
    }

    static func error(_ status: HTTPStatus, _ message: String) -> HTTPResponse {
        json(status, .object([("error", .string(message))]))
    }

    /// Every response closes the connection: the admin port sees a scrape every few seconds,
    /// so keep-alive would save little and would let idle clients hold descriptors.
    func serialized(includeBody: Bool = true) -> [UInt8] {
        var head = "HTTP/1.1 \(status.code) \(status.reason)\r\n"
        head += "Content-Type: \(contentType)\r\n"
        head += "Content-Length: \(body.count)\r\n"
        head += "Cache-Control: no-store\r\n"
        head += "X-Content-Type-Options: nosniff\r\n"
        head += "Connection: close\r\n"
        for header in headers { head += "\(header.name): \(header.value)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (includeBody ? body : [])
    }
}
