import BasculeTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Headers read to the length their specification allows.
extension HardeningTests {
    /// A v2 header: PROXY, TCP over IPv4, 198.51.100.9:40000 → 203.0.113.1:80, then one TLV
    /// (type 0xE0, a custom type the spec reserves for such use) of `tlvLength` bytes.
    private func proxyV2Header(tlvLength: Int) -> [UInt8] {
        var header: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11]
        let length = 12 + 3 + tlvLength
        header += [UInt8(length >> 8), UInt8(length & 0xFF)]
        header += [198, 51, 100, 9, 203, 0, 113, 1, 0x9C, 0x40, 0x00, 0x50]
        header += [0xE0, UInt8(tlvLength >> 8), UInt8(tlvLength & 0xFF)]
        header += [UInt8](repeating: 0x2A, count: tlvLength)
        return header
    }

    @Test func aProxyV2HeaderWithTLVsUpToTheSpecLimitIsRead() throws {
        let (echo, echoPort) = try BackendProcess.start(name: "echo1", mode: .echo)
        defer { echo.terminate() }
        let balancer = try BalancerProcess(services: [
            echoService(echoPort, ["acceptProxyProtocol": true]),
        ])
        defer { balancer.process.terminate() }
        // 65,535 - 15: the largest TLV an IPv4 header's 16-bit length field leaves room for.
        for tlvLength in [100, 5_000, 65_535 - 15] {
            let client = try TCPClient(port: balancer.port("echo"), timeout: .seconds(10))
            defer { client.close() }
            try client.sendAll(proxyV2Header(tlvLength: tlvLength) + Array("after \(tlvLength)\n".utf8))
            #expect(try client.read(maxBytes: 64) == Array("after \(tlvLength)\n".utf8),
                    "a v2 header with a \(tlvLength)-byte TLV was refused")
        }
        #expect(try balancer.metric("bascule_service_proxy_headers_rejected_total") == 0)
    }
}
