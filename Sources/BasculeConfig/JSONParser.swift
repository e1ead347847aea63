/// A JSON syntax error, located for a human: line and column (1-based; the column counts
/// characters, not bytes) and the JSON path of the innermost object or array being read.
public struct JSONSyntaxError: Error, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var reason: String
    /// `$` when the error is at the top level, else e.g. `services[1].backends`.
    public var path: String

    public init(line: Int, column: Int, reason: String, path: String) {
        self.line = line
        self.column = column
        self.reason = reason
        self.path = path
    }

    public var description: String { "invalid JSON at line \(line), column \(column): \(reason)" }
}

/// A strict RFC 8259 parser, without Foundation. It is meant to meet hostile input (the
/// config path is user-controlled and the parser is fuzzed): nesting is capped at
/// `maximumDepth` so recursion stays shallow, every read is bounds-checked, and nothing in
/// it traps on any byte sequence.
public enum JSONParser {
    /// Deep enough for any real config (which nests four levels), shallow enough that the
    /// recursive descent and the recursive value teardown never approach the stack limit.
    public static let maximumDepth = 64

    public static func parse(_ bytes: [UInt8]) -> Result<JSONValue, JSONSyntaxError> {
        var reader = Reader(bytes: bytes)
        do {
            return .success(try reader.document())
        } catch {
            return .failure(reader.locate(error))
        }
    }

    public static func parse(_ text: String) -> Result<JSONValue, JSONSyntaxError> {
        parse(Array(text.utf8))
    }
}

private struct Failure: Error {
    var offset: Int
    var reason: String
    var path: JSONPath
}

private struct Reader {
    let bytes: [UInt8]
    var index = 0
    var depth = 0
    var path = JSONPath.root

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func document() throws(Failure) -> JSONValue {
        // Editors on some platforms save a UTF-8 byte order mark; it is not content.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        let value = try value()
        skipWhitespace()
        if index < bytes.count {
            throw failure("unexpected \(describeCharacter(at: index)) after the end of the document")
        }
        return value
    }

    func locate(_ failure: Failure) -> JSONSyntaxError {
        var line = 1
        var column = 1
        for byte in bytes[0..<min(failure.offset, bytes.count)] {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                // UTF-8 continuation bytes do not start a new character.
                column += 1
            }
        }
        return JSONSyntaxError(line: line, column: column, reason: failure.reason,
                               path: failure.path.description)
    }

    // MARK: Values

    private mutating func value() throws(Failure) -> JSONValue {
        skipWhitespace()
        guard let byte = peek() else {
            throw failure("unexpected end of input (expected a value)")
        }
        switch byte {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default:
            throw failure("unexpected \(describeCharacter(at: index)) (expected a value)")
        }
    }

    private mutating func enterContainer() throws(Failure) {
        if depth >= JSONParser.maximumDepth {
            throw failure("nesting is deeper than \(JSONParser.maximumDepth) levels")
        }
        depth += 1
        index += 1
    }

    private mutating func object() throws(Failure) -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        var members: [JSONMember] = []
        var seen = Set<String>()
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else {
                if peek() == UInt8(ascii: "}") {
                    throw failure("expected a key after ',' (trailing commas are not allowed)")
                }
                throw failure(peek() == nil ? "unexpected end of input (expected a key)"
                                            : "expected a string key, found \(describeCharacter(at: index))")
            }
            let keyOffset = index
            let key = try string()
            if !seen.insert(key).inserted {
                throw Failure(offset: keyOffset, reason: "duplicate key \(quotedForMessage(key))",
                              path: path)
            }
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else {
                throw failure(peek() == nil ? "unexpected end of input (expected ':')"
                                            : "expected ':' after key \(quotedForMessage(key))")
            }
            index += 1
            let outer = path
            path = outer.key(key)
            let member = try value()
            path = outer
            members.append(JSONMember(key: key, value: member))
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","):
                index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(members)
            case nil:
                throw failure("unexpected end of input (expected ',' or '}')")
            default:
                throw failure("expected ',' or '}'")
            }
        }
    }

    private mutating func array() throws(Failure) -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                throw failure("expected a value after ',' (trailing commas are not allowed)")
            }
            let outer = path
            path = outer.index(elements.count)
            let element = try value()
            path = outer
            elements.append(element)
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","):
                index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(elements)
            case nil:
                throw failure("unexpected end of input (expected ',' or ']')")
            default:
                throw failure("expected ',' or ']'")
            }
        }
    }

    private mutating func literal(_ word: StaticString, _ result: JSONValue) throws(Failure) -> JSONValue {
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        if bytes[index...].starts(with: expected) {
            index += expected.count
            return result
        }
        throw failure("unexpected \(describeCharacter(at: index)) (expected a value)")
    }

    private mutating func number() throws(Failure) -> JSONNumber {
        let start = index
        var isInteger = true
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else {
            throw failure("expected a digit after '-'")
        }
        index += 1
        if first == UInt8(ascii: "0"), let next = peek(), isDigit(next) {
            throw failure("numbers must not have leading zeros")
        }
        skipDigits()
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let digit = peek(), isDigit(digit) else {
                throw failure("expected a digit after '.'")
            }
            skipDigits()
            isInteger = false
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let digit = peek(), isDigit(digit) else {
                throw failure("expected a digit in the exponent")
            }
            skipDigits()
            isInteger = false
        }
        let literal = String(decoding: bytes[start..<index], as: UTF8.self)
        return JSONNumber(literal: literal, isInteger: isInteger)
    }

    private mutating func string() throws(Failure) -> String {
        let start = index
        index += 1
        var utf8: [UInt8] = []
        while true {
            guard let byte = peek() else {
                throw Failure(offset: start, reason: "unterminated string", path: path)
            }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = String(validating: utf8, as: UTF8.self) else {
                    throw Failure(offset: start, reason: "string is not valid UTF-8", path: path)
                }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                try escape(into: &utf8)
            case 0..<0x20:
                throw failure("control character U+\(hex4(UInt32(byte))) in a string (write it as an escape)")
            default:
                utf8.append(byte)
                index += 1
            }
        }
    }

    private mutating func escape(into utf8: inout [UInt8]) throws(Failure) {
        guard let byte = peek() else {
            throw failure("unexpected end of input in an escape")
        }
        let simple: UInt8?
        switch byte {
        case UInt8(ascii: "\""): simple = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): simple = UInt8(ascii: "\\")
        case UInt8(ascii: "/"): simple = UInt8(ascii: "/")
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"): simple = nil
        default:
            throw Failure(offset: index - 1, reason: "invalid escape '\\\(describeRaw(byte))'", path: path)
        }
        if let simple {
            utf8.append(simple)
            index += 1
            return
        }
        let escapeStart = index - 1
        index += 1
        var scalarValue = try hexQuad()
        if (0xDC00...0xDFFF).contains(scalarValue) {
            throw Failure(offset: escapeStart, reason: "unpaired surrogate \\u\(hex4(scalarValue))", path: path)
        }
        if (0xD800...0xDBFF).contains(scalarValue) {
            // UTF-16 surrogate pair: the high half must be followed at once by a low half.
            guard bytes[index...].starts(with: [UInt8(ascii: "\\"), UInt8(ascii: "u")]) else {
                throw Failure(offset: escapeStart, reason: "unpaired surrogate \\u\(hex4(scalarValue))", path: path)
            }
            index += 2
            let low = try hexQuad()
            guard (0xDC00...0xDFFF).contains(low) else {
                throw Failure(offset: escapeStart, reason: "unpaired surrogate \\u\(hex4(scalarValue))", path: path)
            }
            scalarValue = 0x10000 + ((scalarValue - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(scalarValue) else {
            throw Failure(offset: escapeStart, reason: "invalid escape \\u\(hex4(scalarValue))", path: path)
        }
        utf8.append(contentsOf: String(Character(scalar)).utf8)
    }

    private mutating func hexQuad() throws(Failure) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek(), let digit = hexDigitValue(byte) else {
                throw failure("expected four hex digits after \\u")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    // MARK: Bytes

    private func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func skipWhitespace() {
        while let byte = peek(),
              byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n")
                || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\t") {
            index += 1
        }
    }

    private mutating func skipDigits() {
        while let byte = peek(), isDigit(byte) { index += 1 }
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private func hexDigitValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    private func failure(_ reason: String) -> Failure {
        Failure(offset: index, reason: reason, path: path)
    }

    /// Names the character at `offset` for a message: printable ASCII quoted, anything else
    /// as a code point (or a raw byte when it is not valid UTF-8), so the message itself
    /// stays printable.
    private func describeCharacter(at offset: Int) -> String {
        guard offset < bytes.count else { return "end of input" }
        let lead = bytes[offset]
        if lead < 0x80 { return "'\(describeRaw(lead))'" }
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
        let end = min(bytes.count, offset + length)
        if let text = String(validating: bytes[offset..<end], as: UTF8.self),
           let scalar = text.unicodeScalars.first {
            return "character U+\(hex4(scalar.value))"
        }
        return "byte 0x\(String(lead, radix: 16, uppercase: true))"
    }

    private func describeRaw(_ byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F { return String(UnicodeScalar(byte)) }
        return "\\u" + hex4(UInt32(byte))
    }
}
