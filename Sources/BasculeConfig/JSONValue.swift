/// A parsed JSON document. Objects keep their members in file order (so messages and
/// summaries follow the file), and numbers keep their literal text so that an integer field
/// can tell `2` from `2.0` and report the value exactly as written.
public enum JSONValue: Sendable, Equatable {
    case object([JSONMember])
    case array([JSONValue])
    case string(String)
    case number(JSONNumber)
    case bool(Bool)
    case null
}

/// One `"key": value` pair of an object. Keys are unique within an object: the parser
/// rejects duplicates, because the last-one-wins rule of most parsers hides typos.
public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var value: JSONValue

    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
}

public struct JSONNumber: Sendable, Equatable, CustomStringConvertible {
    /// The number exactly as written in the file.
    public var literal: String
    /// True when the literal has neither a fraction nor an exponent.
    public var isInteger: Bool

    public init(literal: String, isInteger: Bool) {
        self.literal = literal
        self.isInteger = isInteger
    }

    /// The value as an `Int`, or nil when the literal is not an integer or does not fit.
    public var intValue: Int? { isInteger ? Int(literal) : nil }

    public var doubleValue: Double? { Double(literal) }

    public var description: String { literal }
}

extension JSONValue {
    /// Members of an object, nil for any other value.
    public var objectMembers: [JSONMember]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The value of `key` in an object; nil when absent or when this is not an object.
    public subscript(key: String) -> JSONValue? {
        objectMembers?.first { $0.key == key }?.value
    }

    /// How a value is named in "expected X, got Y" messages: its kind and, for scalars,
    /// the value itself, so the user can find it in the file.
    var summaryForMessages: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string(let text): return "string \(quotedForMessage(text))"
        case .number(let number): return "number \(number.literal)"
        case .bool(let flag): return "boolean \(flag)"
        case .null: return "null"
        }
    }
}

/// Quotes user text for an error message: escaped like any JSON string (so the message is
/// unambiguous and printable), and shortened so one bad value cannot flood the output.
func quotedForMessage(_ text: String, limit: Int = 60) -> String {
    var out = ""
    JSONValue.writeString(text.unicodeScalars, escapingHTML: false, truncatedAfter: limit, into: &out)
    return out
}

func hex4(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
