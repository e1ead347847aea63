import BasculeConfig
import COpenSSL
import Glibc

/// One client-side TLS session over an already connected non-blocking socket. Every call
/// returns at once: `.wantIO` means OpenSSL hit EAGAIN and the probe waits for the next epoll
/// edge (the socket is watched for both directions, so whichever OpenSSL wants will come).
final class TLSClient {
    enum Step: Equatable {
        case done(Int)
        case wantIO
        /// Clean or abrupt end of the stream.
        case closed
        case failed(String)
    }

    private let ssl: OpaquePointer

    /// `serverName` is the SNI and the name the certificate must carry; for an IP literal no
    /// SNI is sent (RFC 6066 forbids it) and the certificate must carry the IP instead.
    init(context: OpaquePointer, fd: Int32, serverName: String, verify: Bool) throws(TLSSetupError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else {
            throw TLSSetupError(description: "tls: SSL_new failed: \(Self.lastErrorText())")
        }
        self.ssl = ssl
        guard SSL_set_fd(ssl, fd) == 1 else {
            throw TLSSetupError(description: "tls: SSL_set_fd failed: \(Self.lastErrorText())")
        }
        let isIPLiteral = Self.isIPLiteral(serverName)
        if !isIPLiteral {
            // SSL_set_tlsext_host_name is a C macro over SSL_ctrl.
            _ = serverName.withCString { name in
                SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: name))
            }
        }
        if verify {
            let pinned = isIPLiteral
                ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName)
                : SSL_set1_host(ssl, serverName)
            guard pinned == 1 else {
                throw TLSSetupError(description: "tls: cannot check the certificate against \(serverName): \(Self.lastErrorText())")
            }
        }
    }

    deinit {
        SSL_free(ssl)
    }

    func handshake() -> Step {
        ERR_clear_error()
        let result = SSL_connect(ssl)
        return result == 1 ? .done(0) : step(after: result, during: "handshake")
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> Step {
        ERR_clear_error()
        let result = SSL_write(ssl, bytes.baseAddress, Int32(bytes.count))
        return result > 0 ? .done(Int(result)) : step(after: result, during: "write")
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Step {
        ERR_clear_error()
        let result = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
        return result > 0 ? .done(Int(result)) : step(after: result, during: "read")
    }

    private func step(after result: Int32, during phase: String) -> Step {
        let code = SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wantIO
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        case SSL_ERROR_SYSCALL:
            let saved = errno
            if phase == "handshake" {
                return .failed(saved == 0 ? "tls: connection closed during handshake"
                                          : "tls: handshake failed: \(String(cString: strerror(saved)).lowercased())")
            }
            return saved == 0 ? .closed : .failed("tls: \(phase) failed: \(String(cString: strerror(saved)).lowercased())")
        default:
            let verifyResult = SSL_get_verify_result(ssl)
            if verifyResult != X509_V_OK {
                return .failed("tls: certificate verify failed: \(String(cString: X509_verify_cert_error_string(verifyResult)))")
            }
            return .failed("tls: \(phase) failed: \(Self.lastErrorText())")
        }
    }

    /// The reason of the oldest queued OpenSSL error ("wrong version number"), drained.
    static func lastErrorText() -> String {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return "unknown error" }
        if let reason = ERR_reason_error_string(code) { return String(cString: reason) }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func isIPLiteral(_ name: String) -> Bool {
        IPAddress(name) != nil
    }
}
