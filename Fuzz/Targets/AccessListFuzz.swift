import BasculeConfig
import BasculePosix

/// Feeds arbitrary text to config's CIDR parser and the access list built from what it
/// accepts: lines alternate between the allow and deny lists. Parsing must refuse or succeed,
/// never trap; every accepted block must then behave as a rule for its own network address.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAccessList(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    var allow: [CIDRBlock] = []
    var deny: [CIDRBlock] = []
    for (index, line) in lines.enumerated() {
        guard let block = CIDRBlock(line) else { continue }
        if index % 2 == 0 { allow.append(block) } else { deny.append(block) }
    }
    let list = AccessList(allow: allow, deny: deny)
    for probe in probes { _ = list.permits(probe) }

    for block in allow + deny {
        precondition(CIDRBlock(block.description) == block, "a block does not survive its own description")
        let base = SocketAddress(bytes: block.network, port: 1)
        precondition(AccessList(allow: [block], deny: []).permits(base), "a network does not contain its own address")
        precondition(!AccessList(allow: [], deny: [block]).permits(base), "deny did not match its own network")
        precondition(!AccessList(allow: [block], deny: [block]).permits(base), "allow won over deny")
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
