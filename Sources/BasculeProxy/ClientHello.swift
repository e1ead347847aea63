/// What routing needs from a TLS ClientHello: the name the client asked for and the
/// application protocols it offers. Nothing is copied: the views point into the bytes the
/// reader was given (or into its scratch buffer when the ClientHello spanned several TLS
/// records), so a `ClientHello` is valid only while those buffers are.
public struct ClientHello {
    /// The `host_name` of the server_name extension, exactly as sent (letters may be in
    /// either case); nil when the client sent none, or when it offered Encrypted Client Hello:
    /// then the outer name is only the ECH provider's public name, not the service wanted.
    public var serverName: UnsafeRawBufferPointer?
    /// The protocols of the ALPN extension in the client's order; empty when it sent none.
    public var alpn: ALPNProtocols
    /// The client sent an encrypted_client_hello extension (its real name is unreadable).
    public var offersEncryptedClientHello: Bool
    /// Bytes of the connection's start the ClientHello took, TLS record headers included.
    public var length: Int

    public init(serverName: UnsafeRawBufferPointer?, alpn: ALPNProtocols, offersEncryptedClientHello: Bool,
                length: Int) {
        self.serverName = serverName
        self.alpn = alpn
        self.offersEncryptedClientHello = offersEncryptedClientHello
        self.length = length
    }
}

/// The ALPN `protocol_name_list` (each name prefixed by its one-byte length), already checked
/// by the reader: every entry is non-empty and lies inside the list.
public struct ALPNProtocols: Sequence {
    let list: UnsafeRawBufferPointer

    init(list: UnsafeRawBufferPointer) {
        self.list = list
    }

    public static var none: ALPNProtocols { ALPNProtocols(list: UnsafeRawBufferPointer(start: nil, count: 0)) }

    public var isEmpty: Bool { list.isEmpty }

    public func contains(_ name: [UInt8]) -> Bool {
        for offered in self where offered.elementsEqual(name) { return true }
        return false
    }

    public struct Iterator: IteratorProtocol {
        let list: UnsafeRawBufferPointer
        var offset = 0

        public mutating func next() -> UnsafeRawBufferPointer? {
            guard offset < list.count else { return nil }
            let length = Int(list[offset])
            defer { offset += 1 + length }
            return UnsafeRawBufferPointer(rebasing: list[(offset + 1)..<(offset + 1 + length)])
        }
    }

    public func makeIterator() -> Iterator { Iterator(list: list) }
}
