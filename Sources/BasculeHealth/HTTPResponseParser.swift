/// Accumulates an HTTP/1.x response as far as a health check needs it: the status line, the
/// headers, and the body up to a cap. A check never needs more than a small response, and a
/// backend that streams endlessly must not make the balancer buffer without bound.
struct HTTPResponseParser: Sendable {
    static let defaultCapacity = 64 * 1024

    let capacity: Int
    private(set) var bytes: [UInt8] = []
    private(set) var status: Int?
    private(set) var isMalformed = false
    private var bodyStart: Int?
    private var contentLength: Int?

    init(capacity: Int = HTTPResponseParser.defaultCapacity) {
        self.capacity = capacity
    }

    var headersComplete: Bool { bodyStart != nil }
    /// The cap was reached: whatever is missing will never be seen.
    var isFull: Bool { bytes.count >= capacity }
    var body: ArraySlice<UInt8> { bodyStart.map { bytes[$0...] } ?? [] }
    /// Content-Length says the body has fully arrived.
    var bodyComplete: Bool {
        guard let length = contentLength else { return false }
        return body.count >= length
    }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        let room = capacity - bytes.count
        guard room > 0, !isMalformed else { return }
        bytes.append(contentsOf: chunk.prefix(room))
        if bodyStart == nil { parseHead() }
    }

    private mutating func parseHead() {
        guard let end = Self.find([13, 10, 13, 10], in: bytes[...]) else { return }
        bodyStart = end + 4
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).makeIterator()
        guard let statusLine = lines.next() else { isMalformed = true; return }
        // "HTTP/1.1 200 OK": the reason phrase is optional and may contain spaces.
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), parts[1].count == 3,
              let code = Int(parts[1]), (100...999).contains(code) else {
            isMalformed = true
            return
        }
        status = code
        while let line = lines.next() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            if name == "content-length" {
                contentLength = Int(line[line.index(after: colon)...].trimmingSpaces)
            }
        }
    }

    /// The first index where `needle` starts in `haystack`, nil when it does not occur.
    static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard !needle.isEmpty else { return haystack.startIndex }
        guard haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while index <= last {
            if haystack[index] == needle[0] && haystack[index..<index + needle.count].elementsEqual(needle) {
                return index
            }
            index += 1
        }
        return nil
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var slice = self
        while slice.first == " " || slice.first == "\t" { slice.removeFirst() }
        while slice.last == " " || slice.last == "\t" { slice.removeLast() }
        return slice
    }
}
