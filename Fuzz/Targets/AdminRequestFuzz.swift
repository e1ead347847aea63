/// Feeds arbitrary bytes to the admin server's HTTP request parser, compiled with its sources
/// as a module named BasculeAdmin (the parser is internal). The first four bytes are not
/// request data: two choose where the request is cut into up to three reads, two choose a
/// small set of limits so the head and body limits are reachable within -max_len. The head
/// limit stays above 17 bytes: below that a read cut inside the method could be refused as
/// too large before the method check, which no real limit (8 KiB) can do.
///
/// The connection re-parses everything received after every read and acts on the first
/// answer that is not `needMore`; that answer must be the one the whole input gets, wherever
/// the reads were cut. Requests must respect the limits they were parsed under.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAdminRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 4 else { return 0 }
    let all = Array(UnsafeBufferPointer(start: data, count: size))
    let request = Array(all[4...])
    let n = request.count
    let cuts = [Int(all[0]) * (n + 1) / 256, Int(all[1]) * (n + 1) / 256].sorted()
    let small = HTTPLimits(maxHeadBytes: 24 + Int(all[2] % 128), maxBodyBytes: Int(all[3] % 64))

    for limits in [HTTPLimits(), small] {
        let whole = HTTPRequestParser.parse(request, limits: limits)
        check(whole, request, limits)

        // Delivered in reads, as AdminConnection does: append, parse, stop at a verdict.
        var received: [UInt8] = []
        var verdict = HTTPRequestParser.Outcome.needMore
        for range in [0..<cuts[0], cuts[0]..<cuts[1], cuts[1]..<n] where !range.isEmpty {
            received += request[range]
            verdict = HTTPRequestParser.parse(received, limits: limits)
            check(verdict, received, limits)
            if case .needMore = verdict { continue }
            break
        }
        require(same(verdict, whole),
                     "reads cut at \(cuts) answer \(describe(verdict)); the whole input answers \(describe(whole))")
    }
    return 0
}

private let crlfcrlf: [UInt8] = [13, 10, 13, 10]

/// What any answer on `buffer` must satisfy.
private func check(_ outcome: HTTPRequestParser.Outcome, _ buffer: [UInt8], _ limits: HTTPLimits) {
    switch outcome {
    case .needMore:
        require(buffer.count < limits.maxHeadBytes + limits.maxBodyBytes, "waiting for more than the limits allow")
    case .failure(let status, let reason):
        require(status.code >= 400 && status.code < 600 && !reason.isEmpty, "odd failure \(status) \(reason)")
    case .request(let request):
        guard let head = headLength(buffer) else { fatalError("a request without a complete head") }
        require(head <= limits.maxHeadBytes, "head of \(head) bytes accepted under a \(limits.maxHeadBytes)-byte limit")
        require(request.body.count <= limits.maxBodyBytes, "body of \(request.body.count) bytes over the limit")
        require(head + request.body.count <= buffer.count, "request extends past the buffer")
        require(request.body.elementsEqual(buffer[head..<(head + request.body.count)]), "body is not what followed the head")
        require(request.path.hasPrefix("/"), "path \(request.path) does not start with /")
        require(request.version == "HTTP/1.1" || request.version == "HTTP/1.0", "version \(request.version)")
        require(!request.method.isEmpty && request.method.utf8.allSatisfy(HTTPRequestParser.isTokenByte), "method")
        require(!request.headers.contains { $0.name == "transfer-encoding" }, "Transfer-Encoding accepted")
        let lengths = request.headers.filter { $0.name == "content-length" }
        require(lengths.isEmpty ? request.body.isEmpty : Int(lengths[0].value) == request.body.count,
                     "body length differs from Content-Length")
        for header in request.headers {
            require(!header.name.isEmpty && header.name == header.name.lowercased(), "header name \(header.name)")
            require(!header.value.hasPrefix(" ") && !header.value.hasSuffix(" "), "header value not trimmed")
        }
        _ = request.pathSegments
    }
}

/// Bytes up to and including the first blank line, if there is one.
private func headLength(_ buffer: [UInt8]) -> Int? {
    guard buffer.count >= 4 else { return nil }
    for index in 0...(buffer.count - 4) where buffer[index..<(index + 4)].elementsEqual(crlfcrlf) {
        return index + 4
    }
    return nil
}

private func same(_ a: HTTPRequestParser.Outcome, _ b: HTTPRequestParser.Outcome) -> Bool {
    switch (a, b) {
    case (.needMore, .needMore): return true
    case (.failure(let s, let r), .failure(let t, let q)): return s == t && r == q
    case (.request(let x), .request(let y)):
        return x.method == y.method && x.path == y.path && x.query == y.query && x.version == y.version
            && x.body == y.body && x.headers.count == y.headers.count
            && zip(x.headers, y.headers).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    default: return false
    }
}

private func describe(_ outcome: HTTPRequestParser.Outcome) -> String {
    switch outcome {
    case .needMore: return "needMore"
    case .failure(let status, let reason): return "\(status.code) \(reason)"
    case .request(let request): return "request \(request.method) \(request.path) body \(request.body.count)"
    }
}

/// precondition() drops its message in -O builds; a finding should say what it found.
private func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
