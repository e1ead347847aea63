import BasculePosix
import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// The backend's certificate and key loaded into one OpenSSL server context (`--tls-cert`,
/// `--tls-key`), shared by every connection's session.
///
/// `@unchecked Sendable`: an SSL_CTX is safe to share across threads once configured
/// (OpenSSL locks its own state), and nothing changes it after `init`.
public final class TLSServerContext: @unchecked Sendable {
    let context: OpaquePointer

    public init(certificateFile: String, keyFile: String) throws(TLSSetupError) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw TLSSetupError(description: "tls: SSL_CTX_new failed: \(Self.lastErrorText())")
        }
        self.context = context
        guard SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1 else {
            SSL_CTX_free(context)
            throw TLSSetupError(description: "tls: cannot load the certificate \(certificateFile): \(Self.lastErrorText())")
        }
        guard SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1,
              SSL_CTX_check_private_key(context) == 1 else {
            SSL_CTX_free(context)
            throw TLSSetupError(description: "tls: cannot use the key \(keyFile) with that certificate: \(Self.lastErrorText())")
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    static func lastErrorText() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "no OpenSSL error queued" }
        var text = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &text, text.count)
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

public struct TLSSetupError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// A connection's byte stream: the socket itself, or a TLS session over it. Blocking, like
/// the rest of the backend: the socket's SO_RCVTIMEO/SO_SNDTIMEO bound every call.
struct ConnectionStream {
    let fd: Int32
    private var ssl: OpaquePointer?

    init(fd: Int32) {
        self.fd = fd
    }

    var isTLS: Bool { ssl != nil }

    /// Runs the server side of a TLS handshake; false when the client gave up or failed it.
    mutating func startTLS(_ context: TLSServerContext) -> Bool {
        ERR_clear_error()
        guard let ssl = SSL_new(context.context) else { return false }
        self.ssl = ssl
        guard SSL_set_fd(ssl, fd) == 1, SSL_accept(ssl) == 1 else { return false }
        return true
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        guard let ssl else { return try BlockingSocket.read(fd, into: buffer) }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        ERR_clear_error()
        let count = SSL_read(ssl, base, Int32(min(buffer.count, Int(Int32.max))))
        if count > 0 { return Int(count) }
        let error = SSL_get_error(ssl, count)
        // A close_notify, or a peer that just closed the socket: both end the stream.
        if error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && errno == 0) { return 0 }
        // The handshake is done, so a failure here is the peer's doing: report it as a protocol error.
        throw SystemError(errno: EPROTO, call: "SSL_read (error \(error))")
    }

    func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        guard let ssl else { return try BlockingSocket.writeAll(fd, bytes) }
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let count = SSL_write(ssl, bytes.baseAddress! + offset, Int32(min(bytes.count - offset, 1 << 30)))
            guard count > 0 else {
                throw SystemError(errno: errno == 0 ? EPROTO : errno, call: "SSL_write (error \(SSL_get_error(ssl, count)))")
            }
            offset += Int(count)
        }
    }

    func writeAll(_ bytes: [UInt8]) throws(SystemError) {
        var failure: SystemError?
        bytes.withUnsafeBytes { buffer in
            do throws(SystemError) { try writeAll(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Half-close: over TLS a close_notify goes first, so the client sees a clean end.
    func shutdownWrite() {
        if let ssl { _ = SSL_shutdown(ssl) }
        BlockingSocket.shutdownWrite(fd)
    }

    func close() {
        if let ssl {
            // One close_notify (never a second call: that would wait for the client's).
            if SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN == 0 && SSL_is_init_finished(ssl) == 1 { _ = SSL_shutdown(ssl) }
            SSL_free(ssl)
        }
        _ = Glibc.close(fd)
    }
}
