/// Feeds arbitrary text to AccessList.init: lines alternate between the allow and deny lists.
/// It must throw or succeed, never trap; every accepted entry must then behave as a rule.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAccessList(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    var allow: [String] = []
    var deny: [String] = []
    for (index, line) in lines.enumerated() {
        if index % 2 == 0 { allow.append(line) } else { deny.append(line) }
    }
    do {
        let list = try AccessList(allow: allow, deny: deny)
        for probe in probes { _ = list.permits(probe) }
    } catch {
        precondition(!error.description.isEmpty, "an error without a message")
    }

    for line in lines {
        guard let cidr = try? CIDR(parsing: line).normalized else { continue }
        let base: SocketAddress
        switch cidr.network {
        case .ipv4(let address, _): base = SocketAddress(ipv4: address, port: 1)
        case .ipv6(let high, let low, _, _): base = SocketAddress(ipv6: high, low, port: 1)
        }
        guard let allowOne = try? AccessList(allow: [line], deny: []),
              let denyOne = try? AccessList(allow: [], deny: [line]),
              let both = try? AccessList(allow: [line], deny: [line]) else {
            fatalError("an entry that parses as CIDR was refused by AccessList")
        }
        precondition(allowOne.permits(base), "a network does not contain its own address")
        precondition(!denyOne.permits(base), "deny did not match its own network")
        precondition(!both.permits(base), "allow won over deny")
    }
    return 0
}

private let probes: [SocketAddress] = [
    SocketAddress(ipv4: 0xC000_0201, port: 1),
    SocketAddress(ipv4: 0, port: 0),
    SocketAddress(ipv6: 0x2001_0DB8_0000_0000, 1, port: 1),
    SocketAddress(ipv6: 0, 0xFFFF_C000_0201, port: 1),
    SocketAddress(),
]
