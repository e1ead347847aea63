/// A DNS host name as RFC 1123 §2.1 writes one: dot-separated labels of letters, digits and
/// '-', none starting or ending with '-', each 1...63 bytes, 253 bytes in all. A last label of
/// digits only is refused (RFC 3696 §2), so a mistyped IPv4 literal such as "10.0.0.256" or
/// "127.1" is reported as a bad address instead of being looked up as a name.
public struct HostName: Sendable, Hashable, CustomStringConvertible {
    /// Lowercase, without a trailing dot: names compare without regard to case.
    public let text: String

    public var description: String { text }

    /// Why `text` is not a host name, or nil when it is one.
    public static func problem(_ text: String) -> String? {
        var name = Substring(text)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty else { return "an empty host name" }
        guard name.utf8.count <= 253 else { return "a host name longer than 253 characters" }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty else { return "an empty label (two dots in a row, or a leading dot)" }
            guard label.utf8.count <= 63 else { return "label \(quotedForMessage(String(label))) is longer than 63 characters" }
            guard label.utf8.allSatisfy(isLabelByte) else {
                return "label \(quotedForMessage(String(label))) has a character other than letters, digits and '-'"
            }
            if label.hasPrefix("-") || label.hasSuffix("-") {
                return "label \(quotedForMessage(String(label))) starts or ends with '-'"
            }
        }
        if labels.last!.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            return "the last label is all digits (a mistyped IPv4 address?)"
        }
        return nil
    }

    public init?(_ text: String) {
        guard Self.problem(text) == nil else { return nil }
        self.text = String(text.hasSuffix(".") ? text.dropLast() : Substring(text)).lowercased()
    }

    private static func isLabelByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
    }
}
