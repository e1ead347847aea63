/// Writing JSON: the admin server's /status and API answers, the test backend's role
/// documents, config error messages. One escaper for all of them, so a name with a quote or
/// a control character reads the same wherever it is shown. Foundation stays out, keeping
/// the binary and its start-up small.
extension JSONValue {
    public static func int(_ value: Int) -> JSONValue {
        .number(JSONNumber(literal: String(value), isInteger: true))
    }

    /// JSON has no infinity or NaN: those become null.
    public static func double(_ value: Double) -> JSONValue {
        value.isFinite ? .number(JSONNumber(literal: String(value), isInteger: false)) : .null
    }

    /// An object from key/value pairs, in the order given (so /status reads the same way
    /// every time).
    public static func object(_ pairs: [(String, JSONValue)]) -> JSONValue {
        .object(pairs.map { JSONMember(key: $0.0, value: $0.1) })
    }

    public var rendered: String {
        var out = ""
        write(into: &out)
        return out
    }

    func write(into out: inout String) {
        switch self {
        case .object(let members):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                Self.writeString(member.key, into: &out)
                out += ":"
                member.value.write(into: &out)
            }
            out += "}"
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                element.write(into: &out)
            }
            out += "]"
        case .string(let text): Self.writeString(text, into: &out)
        case .number(let number): out += number.literal
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        }
    }

    /// Writes `text` as a quoted JSON string. Quotes, backslashes and control characters are
    /// escaped; with `escapingHTML`, so are "<", ">", "&" and the JS line separators, so a
    /// backend name can never close a <script> element the JSON is embedded in.
    public static func writeString(_ text: some Sequence<Unicode.Scalar>, escapingHTML: Bool = true,
                                   truncatedAfter limit: Int = .max, into out: inout String) {
        out += "\""
        var count = 0
        for scalar in text {
            if count == limit {
                out += "…"
                break
            }
            count += 1
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                if escapingHTML {
                    out += "\\u" + hex4(scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u" + hex4(scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    public static func writeString(_ text: String, into out: inout String) {
        // Names, addresses and reasons rarely need escaping: appended whole, not scalar by
        // scalar (a /status of 10,000 backends spent two thirds of its time there).
        if text.utf8.allSatisfy(Self.needsNoEscape) {
            out += "\""
            out += text
            out += "\""
            return
        }
        writeString(text.unicodeScalars, into: &out)
    }

    /// Printable ASCII other than the characters `writeString` escapes (HTML ones included).
    @inline(__always)
    private static func needsNoEscape(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
            && byte != UInt8(ascii: "<") && byte != UInt8(ascii: ">") && byte != UInt8(ascii: "&")
    }
}
