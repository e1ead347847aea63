#if canImport(Glibc)
import Glibc
#endif

/// The client address a PROXY protocol header (v1 or v2) announces, as "host:port", for
/// `--accept-proxy`: the backend reports it in `X-Client-Address` so a test can see what a
/// balancer sent. Deliberately small and strict; a malformed header closes the connection.
enum ProxyHeaderReport {
    enum Outcome: Equatable {
        case needMoreData
        case invalid
        /// `client` is nil for LOCAL / UNKNOWN headers.
        case complete(client: String?, length: Int)
    }

    private static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    static func parse(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        if bytes.count >= 1 && bytes[0] == 0x0D { return parseV2(bytes) }
        return parseV1(bytes)
    }

    private static func parseV1(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        let prefix = Array("PROXY ".utf8)
        for (index, byte) in prefix.enumerated() where index < bytes.count && bytes[index] != byte { return .invalid }
        let limit = min(bytes.count, 107)
        guard let lf = (0..<limit).first(where: { bytes[$0] == 0x0A }) else {
            return bytes.count >= 107 ? .invalid : .needMoreData
        }
        guard lf > 0, bytes[lf - 1] == 0x0D else { return .invalid }
        let fields = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<(lf - 1)]), as: UTF8.self)
            .split(separator: " ").map(String.init)
        if fields.count == 2 && fields[1] == "UNKNOWN" { return .complete(client: nil, length: lf + 1) }
        guard fields.count == 6, fields[1] == "TCP4" || fields[1] == "TCP6", let port = UInt16(fields[4]) else { return .invalid }
        return .complete(client: fields[1] == "TCP6" ? "[\(fields[2])]:\(port)" : "\(fields[2]):\(port)", length: lf + 1)
    }

    private static func parseV2(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        for (index, byte) in v2Signature.enumerated() where index < bytes.count && bytes[index] != byte { return .invalid }
        guard bytes.count >= 16 else { return .needMoreData }
        guard bytes[12] >> 4 == 2 else { return .invalid }
        let length = 16 + (Int(bytes[14]) << 8 | Int(bytes[15]))
        guard bytes.count >= length else { return .needMoreData }
        if bytes[12] & 0x0F == 0 { return .complete(client: nil, length: length) }  // LOCAL
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch bytes[13] {
        case 0x11 where length >= 16 + 12:
            var address = in_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[16..<20])) }
            inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
            let port = Int(bytes[24]) << 8 | Int(bytes[25])
            return .complete(client: "\(decode(text)):\(port)", length: length)
        case 0x21 where length >= 16 + 36:
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[16..<32])) }
            inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
            let port = Int(bytes[48]) << 8 | Int(bytes[49])
            return .complete(client: "[\(decode(text))]:\(port)", length: length)
        default:
            return .complete(client: nil, length: length)
        }
    }

    private static func decode(_ text: [CChar]) -> String {
        String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
