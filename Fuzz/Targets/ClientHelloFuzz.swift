/// Feeds arbitrary bytes to the ClientHello reader. ASan catches any read outside the input
/// or the scratch buffer; the checks below catch wrong answers.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClientHello(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let result = read(bytes, maximumBytes: ClientHelloReader.defaultMaximumBytes)

    // Incremental: one byte less either waited or gave the same answer.
    if size > 0 {
        let shorter = read(UnsafeRawBufferPointer(rebasing: bytes[0..<size - 1]), maximumBytes: ClientHelloReader.defaultMaximumBytes)
        switch (shorter, result) {
        case (.needMore, _), (.refused, .refused): break
        case (.hello(let a), .hello(let b)) where a == b: break
        default: fatalError("answer changed when one more byte arrived: \(shorter) then \(result)")
        }
    }
    // A smaller cap only ever turns an answer into tooLarge.
    let capped = read(bytes, maximumBytes: 600)
    if capped != result, capped != .refused, capped != .needMore {
        fatalError("a smaller cap changed the answer: \(result) then \(capped)")
    }

    guard case .hello(let hello) = result else { return 0 }
    precondition(hello.length > 0 && hello.length <= size, "length out of range")
    // Every proper prefix of a complete ClientHello is only a wait.
    for length in stride(from: 0, to: hello.length, by: max(1, hello.length / 64)) {
        guard read(UnsafeRawBufferPointer(rebasing: bytes[0..<length]), maximumBytes: ClientHelloReader.defaultMaximumBytes) == .needMore else {
            fatalError("a prefix of a ClientHello was not needMore")
        }
    }
    resplit(bytes, hello: hello)
    return 0
}

struct Summary: Equatable, CustomStringConvertible {
    var name: [UInt8]?
    var alpn: [[UInt8]]
    var ech: Bool
    var length: Int
    var description: String { "name \(name.map { String(decoding: $0, as: UTF8.self) } ?? "-") alpn \(alpn.count) ech \(ech) length \(length)" }
}

enum Outcome: Equatable, CustomStringConvertible {
    case needMore, refused, hello(Summary)
    var description: String {
        switch self {
        case .needMore: "needMore"
        case .refused: "refused"
        case .hello(let summary): "hello(\(summary))"
        }
    }
}

// libFuzzer calls the target from one thread.
nonisolated(unsafe) private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: ClientHelloReader.defaultMaximumBytes, alignment: 16)

private func read(_ bytes: UnsafeRawBufferPointer, maximumBytes: Int) -> Outcome {
    switch ClientHelloReader.read(bytes, scratch: scratch, maximumBytes: maximumBytes) {
    case .needMoreBytes: return .needMore
    case .notTLS, .malformed, .tooLarge: return .refused
    case .complete(let hello):
        if let name = hello.serverName {
            precondition(ClientHelloReader.isHostName(name), "a name that is not a host name")
            precondition(inside(name, bytes) || inside(name, UnsafeRawBufferPointer(scratch)), "name outside the buffers")
        }
        precondition(!(hello.offersEncryptedClientHello && hello.serverName != nil), "ECH with a name")
        let alpn = hello.alpn.map { Array($0) }
        precondition(alpn.allSatisfy { !$0.isEmpty }, "empty ALPN name")
        return .hello(Summary(name: hello.serverName.map { Array($0) }, alpn: alpn,
                              ech: hello.offersEncryptedClientHello, length: hello.length))
    }
}

private func inside(_ part: UnsafeRawBufferPointer, _ whole: UnsafeRawBufferPointer) -> Bool {
    guard let p = part.baseAddress, let w = whole.baseAddress else { return part.isEmpty }
    return p >= w && p + part.count <= w + whole.count
}

/// The same handshake message cut into two records reads the same.
private func resplit(_ bytes: UnsafeRawBufferPointer, hello: Summary) {
    // Only a single-record hello is re-cut (its message is bytes[5..<length]).
    let fragment = Int(bytes[3]) << 8 | Int(bytes[4])
    guard fragment + 5 == hello.length, fragment >= 2 else { return }
    let cut = 1 + (hello.length * 31) % (fragment - 1)
    var records = [UInt8](bytes[0..<3]) + [UInt8(cut >> 8), UInt8(cut & 0xFF)] + bytes[5..<(5 + cut)]
    records += [UInt8](bytes[0..<3]) + [UInt8((fragment - cut) >> 8), UInt8((fragment - cut) & 0xFF)] + bytes[(5 + cut)..<(5 + fragment)]
    let again = records.withUnsafeBytes { read($0, maximumBytes: ClientHelloReader.defaultMaximumBytes) }
    var expected = hello
    expected.length += 5
    guard again == .hello(expected) else { fatalError("two records read differently: \(again) vs \(hello)") }
}
