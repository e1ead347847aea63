import COpenSSL

/// Why a TLS context could not be built (a CA file that does not load).
struct TLSSetupError: Error, CustomStringConvertible, Sendable {
    let description: String
}

/// One SSL_CTX per (caFile, verify) combination: loading a CA bundle is expensive and an
/// SSL_CTX is meant to be shared by every connection with the same settings.
final class TLSContextCache {
    private struct Key: Hashable {
        var caFile: String?
        var verify: Bool
    }

    private var contexts: [Key: OpaquePointer] = [:]

    deinit {
        for context in contexts.values { SSL_CTX_free(context) }
    }

    func context(caFile: String?, verify: Bool) throws(TLSSetupError) -> OpaquePointer {
        // Without verification the CA file is never read, so all such checks share one context.
        let key = Key(caFile: verify ? caFile : nil, verify: verify)
        if let existing = contexts[key] { return existing }
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw TLSSetupError(description: "tls: SSL_CTX_new failed: \(TLSClient.lastErrorText())")
        }
        // A health endpoint that closes without close_notify (as many do after the response)
        // is not an error here: the response is judged on what arrived. OpenSSL 3's
        // SSL_OP_IGNORE_UNEXPECTED_EOF is SSL_OP_BIT(7), a macro Swift cannot import.
        SSL_CTX_set_options(context, UInt64(1) << 7)
        // A write retried after WANT_WRITE must otherwise pass the very same buffer address,
        // which a Swift array does not promise (SSL_CTX_set_mode is a macro over SSL_CTX_ctrl).
        SSL_CTX_ctrl(context, SSL_CTRL_MODE, Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), nil)
        if verify {
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            let loaded: Int32
            if let caFile {
                loaded = SSL_CTX_load_verify_locations(context, caFile, nil)
            } else {
                loaded = SSL_CTX_set_default_verify_paths(context)
            }
            guard loaded == 1 else {
                let detail = TLSClient.lastErrorText()
                SSL_CTX_free(context)
                throw TLSSetupError(description: "tls: cannot load CA \(caFile.map { "file \($0)" } ?? "default paths"): \(detail)")
            }
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
        contexts[key] = context
        return context
    }
}
