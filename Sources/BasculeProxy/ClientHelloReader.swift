/// Reads the TLS ClientHello at the start of a connection to learn the server name (SNI) and
/// the ALPN protocols, without decrypting or changing anything: the caller keeps the bytes
/// and hands all of them to the backend it picks.
///
/// Incremental like `ProxyProtocolParser`: call it again with everything received so far
/// until it answers something other than `.needMoreBytes`; it keeps no state between calls.
/// Strict: the bytes must be handshake records (RFC 8446 §5.1) carrying exactly one
/// ClientHello (§4.1.2) whose length fields all agree; anything else is refused as soon as
/// the bytes seen prove it, so a client speaking another protocol is turned away at its
/// first byte instead of at the deadline. Bounded: a ClientHello announcing more than
/// `maximumBytes` is refused before it arrives.
///
/// A ClientHello inside one record (the usual case) is parsed where it lies. One split over
/// several records is first gathered into `scratch` (caller-owned, reused across
/// connections), so no call allocates. Never reads outside its buffers and never traps,
/// whatever the input (fuzzed: Fuzz/run.sh client-hello).
///
/// Encrypted Client Hello (draft-ietf-tls-esni): the outer ClientHello names only the ECH
/// provider's public name, so a ClientHello carrying the extension reports no server name
/// and is routed like one without SNI.
public enum ClientHelloReader {
    public enum Verdict {
        /// Every byte so far can begin a ClientHello; wait for more.
        case needMoreBytes
        case complete(ClientHello)
        /// The first bytes are not a TLS handshake record (plain HTTP, SSH, a PROXY header...).
        case notTLS
        /// TLS records, but not a well-formed ClientHello.
        case malformed(reason: StaticString)
        /// The ClientHello (or the records carrying it) would exceed `maximumBytes`.
        case tooLarge
    }

    public static let defaultMaximumBytes = 16384
    /// RFC 8446 §5.1: a record's fragment is at most 2^14 bytes.
    static let maximumFragment = 16384
    static let recordHeader = 5
    static let handshakeHeader = 4
    static let contentTypeHandshake: UInt8 = 22
    static let handshakeTypeClientHello: UInt8 = 1
    static let extensionServerName: UInt16 = 0
    static let extensionALPN: UInt16 = 16
    static let extensionEncryptedClientHello: UInt16 = 0xFE0D

    /// - Parameters:
    ///   - bytes: everything received on the connection so far (after any PROXY header).
    ///   - scratch: where a ClientHello split over records is reassembled; at least
    ///     `maximumBytes` long. Its contents are only meaningful while the result is used.
    ///   - maximumBytes: the most bytes the caller will buffer for the ClientHello, record
    ///     headers included.
    public static func read(_ bytes: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer,
                            maximumBytes: Int = defaultMaximumBytes) -> Verdict {
        var offset = 0
        var gathered = 0
        // The 4-byte handshake header may itself straddle records, so it is collected byte by byte.
        var header: UInt32 = 0
        var messageEnd = -1
        var records = 0
        while true {
            let available = bytes.count - offset
            if let refusal = checkRecordHeader(bytes, at: offset, available: available, first: records == 0) {
                return refusal
            }
            guard available >= recordHeader else { return .needMoreBytes }
            let fragment = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
            let fragmentStart = offset + recordHeader
            let present = min(fragment, bytes.count - fragmentStart)
            var index = 0
            while gathered < handshakeHeader && index < present {
                let byte = bytes[fragmentStart + index]
                if gathered == 0 && byte != handshakeTypeClientHello {
                    return .malformed(reason: "the first handshake message is not a ClientHello")
                }
                header = header << 8 | UInt32(byte)
                gathered += 1
                index += 1
                if gathered == handshakeHeader {
                    let length = Int(header & 0xFF_FFFF)
                    // version, random, session id length, one cipher suite, one compression method
                    guard length >= 2 + 32 + 1 + 2 + 2 + 1 + 1 else {
                        return .malformed(reason: "ClientHello shorter than its fixed fields")
                    }
                    messageEnd = handshakeHeader + length
                    guard messageEnd <= min(maximumBytes, scratch.count) else { return .tooLarge }
                }
            }
            gathered += present - index
            if messageEnd >= 0 && gathered >= messageEnd {
                guard gathered == messageEnd && present == fragment else {
                    return .malformed(reason: "the ClientHello record carries more than the ClientHello")
                }
                let length = fragmentStart + fragment
                guard length <= maximumBytes else { return .tooLarge }
                return parseMessage(bytes, records: records + 1, length: length, messageLength: messageEnd,
                                    scratch: scratch)
            }
            guard present == fragment else {
                return fragmentStart + fragment > maximumBytes ? .tooLarge : .needMoreBytes
            }
            offset = fragmentStart + fragment
            records += 1
            guard offset < maximumBytes else { return .tooLarge }
        }
    }

    /// Checks whatever part of the record header at `offset` has arrived, so a non-TLS
    /// client is refused at its first byte.
    private static func checkRecordHeader(_ bytes: UnsafeRawBufferPointer, at offset: Int, available: Int,
                                          first: Bool) -> Verdict? {
        if available >= 1 && bytes[offset] != contentTypeHandshake {
            return first ? .notTLS : .malformed(reason: "a record other than handshake inside the ClientHello")
        }
        // Record versions seen on a ClientHello are 3.0 to 3.3 (TLS 1.3 freezes it at 3.1/3.3).
        if available >= 2 && bytes[offset + 1] != 3 {
            return first ? .notTLS : .malformed(reason: "record version is not 3.x")
        }
        if available >= 3 && bytes[offset + 2] > 3 {
            return first ? .notTLS : .malformed(reason: "record version is not 3.0 to 3.3")
        }
        if available >= 4 && Int(bytes[offset + 3]) << 8 > maximumFragment {
            return .malformed(reason: "record longer than 2^14 bytes")
        }
        if available >= 5 {
            let fragment = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
            // RFC 8446 §5.1: zero-length handshake fragments are forbidden.
            guard fragment > 0 else { return .malformed(reason: "empty handshake record") }
            guard fragment <= maximumFragment else { return .malformed(reason: "record longer than 2^14 bytes") }
        }
        return nil
    }

    /// The whole ClientHello has arrived in `records` records ending at `length`.
    private static func parseMessage(_ bytes: UnsafeRawBufferPointer, records: Int, length: Int, messageLength: Int,
                                     scratch: UnsafeMutableRawBufferPointer) -> Verdict {
        let message: UnsafeRawBufferPointer
        if records == 1 {
            message = UnsafeRawBufferPointer(rebasing: bytes[recordHeader..<(recordHeader + messageLength)])
        } else {
            var offset = 0
            var copied = 0
            while copied < messageLength {
                let fragment = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
                let start = offset + recordHeader
                UnsafeMutableRawBufferPointer(rebasing: scratch[copied..<(copied + fragment)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + fragment)]))
                copied += fragment
                offset = start + fragment
            }
            message = UnsafeRawBufferPointer(rebasing: scratch[0..<messageLength])
        }
        return parseBody(UnsafeRawBufferPointer(rebasing: message[handshakeHeader...]), length: length)
    }

    /// RFC 8446 §4.1.2 (and the TLS 1.0-1.2 form, whose extensions may be absent).
    private static func parseBody(_ body: UnsafeRawBufferPointer, length: Int) -> Verdict {
        var cursor = 0
        guard body[0] == 3 && body[1] <= 3 else { return .malformed(reason: "client version is not 3.0 to 3.3") }
        cursor = 2 + 32
        let sessionID = Int(body[cursor])
        guard sessionID <= 32 else { return .malformed(reason: "session id longer than 32 bytes") }
        cursor += 1 + sessionID
        guard cursor + 2 <= body.count else { return .malformed(reason: "ClientHello ends inside its fields") }
        let suites = Int(body[cursor]) << 8 | Int(body[cursor + 1])
        guard suites >= 2 && suites % 2 == 0 else { return .malformed(reason: "cipher suite list length") }
        cursor += 2 + suites
        guard cursor + 1 <= body.count else { return .malformed(reason: "ClientHello ends inside its fields") }
        let compressions = Int(body[cursor])
        guard compressions >= 1 else { return .malformed(reason: "no compression method") }
        cursor += 1 + compressions
        guard cursor <= body.count else { return .malformed(reason: "ClientHello ends inside its fields") }
        var hello = ClientHello(serverName: nil, alpn: .none, offersEncryptedClientHello: false, length: length)
        // Before TLS 1.3 a ClientHello may end here, without an extensions block.
        guard cursor < body.count else { return .complete(hello) }
        guard cursor + 2 <= body.count,
              cursor + 2 + (Int(body[cursor]) << 8 | Int(body[cursor + 1])) == body.count else {
            return .malformed(reason: "extensions length disagrees with the ClientHello length")
        }
        cursor += 2
        var sawServerName = false
        var sawALPN = false
        while cursor < body.count {
            guard cursor + 4 <= body.count else { return .malformed(reason: "extension header cut short") }
            let type = UInt16(body[cursor]) << 8 | UInt16(body[cursor + 1])
            let extensionLength = Int(body[cursor + 2]) << 8 | Int(body[cursor + 3])
            let start = cursor + 4
            guard start + extensionLength <= body.count else { return .malformed(reason: "extension overruns the ClientHello") }
            let data = UnsafeRawBufferPointer(rebasing: body[start..<(start + extensionLength)])
            switch type {
            case extensionServerName:
                guard !sawServerName else { return .malformed(reason: "server_name sent twice") }
                sawServerName = true
                switch serverName(data) {
                case .success(let name): hello.serverName = name
                case .failure(let reason): return .malformed(reason: reason.text)
                }
            case extensionALPN:
                guard !sawALPN else { return .malformed(reason: "ALPN sent twice") }
                sawALPN = true
                guard let list = alpnList(data) else { return .malformed(reason: "ALPN protocol list") }
                hello.alpn = list
            case extensionEncryptedClientHello:
                guard !hello.offersEncryptedClientHello else { return .malformed(reason: "ECH sent twice") }
                hello.offersEncryptedClientHello = true
            default:
                break
            }
            cursor = start + extensionLength
        }
        if hello.offersEncryptedClientHello { hello.serverName = nil }
        return .complete(hello)
    }

    struct Reason: Error {
        let text: StaticString
    }

    /// RFC 6066 §3: a list of (type, name); only `host_name` (0) is defined, and only one.
    private static func serverName(_ data: UnsafeRawBufferPointer) -> Result<UnsafeRawBufferPointer?, Reason> {
        guard data.count >= 2, Int(data[0]) << 8 | Int(data[1]) == data.count - 2, data.count > 2 else {
            return .failure(Reason(text: "server_name list length"))
        }
        var cursor = 2
        var hostName: UnsafeRawBufferPointer?
        while cursor < data.count {
            guard cursor + 3 <= data.count else { return .failure(Reason(text: "server_name entry cut short")) }
            let type = data[cursor]
            let length = Int(data[cursor + 1]) << 8 | Int(data[cursor + 2])
            let start = cursor + 3
            guard start + length <= data.count else { return .failure(Reason(text: "server_name entry overruns the list")) }
            if type == 0 {
                guard hostName == nil else { return .failure(Reason(text: "two host names in server_name")) }
                let name = UnsafeRawBufferPointer(rebasing: data[start..<(start + length)])
                guard isHostName(name) else { return .failure(Reason(text: "server_name is not a DNS host name")) }
                hostName = name
            }
            cursor = start + length
        }
        return .success(hostName)
    }

    /// Letters, digits, '-' and '_' in dot-separated labels of 1 to 63 bytes, at most 255 in
    /// all, no trailing dot (RFC 6066 §3). A name that is not one could never match a route,
    /// and is more likely an attack on whatever logs it than a client.
    static func isHostName(_ name: UnsafeRawBufferPointer) -> Bool {
        guard !name.isEmpty && name.count <= 255 else { return false }
        var label = 0
        for byte in name {
            if byte == UInt8(ascii: ".") {
                guard label > 0 else { return false }
                label = 0
                continue
            }
            let allowed = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            guard allowed else { return false }
            label += 1
            guard label <= 63 else { return false }
        }
        return label > 0
    }

    /// RFC 7301 §3.1: a non-empty list of non-empty names.
    private static func alpnList(_ data: UnsafeRawBufferPointer) -> ALPNProtocols? {
        guard data.count > 2, Int(data[0]) << 8 | Int(data[1]) == data.count - 2 else { return nil }
        var cursor = 2
        while cursor < data.count {
            let length = Int(data[cursor])
            guard length > 0, cursor + 1 + length <= data.count else { return nil }
            cursor += 1 + length
        }
        return ALPNProtocols(list: UnsafeRawBufferPointer(rebasing: data[2...]))
    }
}
