import BasculeConfig

/// A TCP send/expect conversation (`healthCheck.steps`): sends in order, and after each
/// expectation waits until the bytes received since the previous one contain the substring
/// or match the expression. Pure: the probe moves bytes and calls in here.
struct TCPCheckScript {
    enum Expectation {
        case substring([UInt8], text: String)
        case regex(Regex<AnyRegexOutput>, text: String)
    }

    enum Step {
        case send([UInt8])
        case expect(Expectation)
    }

    /// What an expectation may hold before it gives up: a role or banner line is short.
    static let receiveCapacity = 16 * 1024

    let steps: [Step]
    let timeoutsMs: [Int]
    private(set) var index = 0
    private var received: [UInt8] = []

    /// Compiles the steps once per probe; patterns were validated at load, so failing here
    /// would mean the validator and the checker disagree.
    init(_ configured: [TCPCheckStep]) {
        steps = configured.map { step in
            switch step.action {
            case .send(let bytes):
                return .send(bytes)
            case .expectSubstring(let text):
                return .expect(.substring(Array(text.utf8), text: text))
            case .expectRegex(let pattern):
                guard let regex = try? Regex(pattern) else { preconditionFailure("pattern \(pattern) passed validation but does not compile") }
                // Scalar semantics: a wire protocol's "\r\n" is two characters to match, not
                // the one grapheme Swift strings make of it.
                return .expect(.regex(regex.matchingSemantics(.unicodeScalar), text: pattern))
            }
        }
        timeoutsMs = configured.map(\.timeoutMs)
    }

    /// Back to the first step, for the next attempt.
    mutating func restart() {
        index = 0
        received.removeAll(keepingCapacity: true)
    }

    var current: Step? { index < steps.count ? steps[index] : nil }
    var currentTimeoutMs: Int { index < timeoutsMs.count ? timeoutsMs[index] : 0 }

    /// "step 2 (expect "primary")", for reasons an operator reads.
    var currentDescription: String {
        guard let step = current else { return "after the last step" }
        switch step {
        case .send: return "step \(index + 1) (send)"
        case .expect(.substring(_, let text)): return "step \(index + 1) (expect \"\(Self.visible(text))\")"
        case .expect(.regex(_, let text)): return "step \(index + 1) (expect /\(Self.visible(text))/)"
        }
    }

    /// Control characters spelled out, so a reason stays on one line.
    static func visible(_ text: String) -> String {
        text.unicodeScalars.map { scalar in
            switch scalar {
            case "\r": return "\\r"
            case "\n": return "\\n"
            case "\t": return "\\t"
            default: return scalar.value < 0x20 || scalar.value == 0x7f ? "." : String(scalar)
            }
        }.joined()
    }

    /// The current send step went out whole.
    mutating func sent() {
        index += 1
    }

    /// Feeds received bytes. Returns true when the current expectation is met (the step
    /// then advances; bytes after the match carry over to the next expectation).
    mutating func consume(_ chunk: UnsafeRawBufferPointer) -> Bool {
        let room = Self.receiveCapacity - received.count
        received.append(contentsOf: chunk.prefix(max(0, room)))
        return matchBuffered()
    }

    /// Whether what is buffered already meets the current expectation (bytes that arrived
    /// together with an earlier answer).
    mutating func matchBuffered() -> Bool {
        guard case .expect(let expectation)? = current, let end = Self.matchEnd(expectation, in: received) else { return false }
        received.removeFirst(end)
        index += 1
        return true
    }

    /// The cap is reached and the expectation is still unmet: more bytes will not help.
    var isFull: Bool { received.count >= Self.receiveCapacity }

    /// What arrived for the current expectation, shortened for a reason line.
    var receivedExcerpt: String {
        let printable = Self.visible(String(decoding: received.prefix(64), as: UTF8.self))
        return received.count > 64 ? printable + "..." : printable
    }

    private static func matchEnd(_ expectation: Expectation, in bytes: [UInt8]) -> Int? {
        switch expectation {
        case .substring(let needle, _):
            return HTTPResponseParser.find(needle, in: bytes[...]).map { $0 + needle.count }
        case .regex(let regex, _):
            // Decoded leniently: a binary answer can still be matched on its printable part.
            let text = String(decoding: bytes, as: UTF8.self)
            guard let match = try? regex.firstMatch(in: text) else { return nil }
            // Bytes up to the match's end: the UTF-8 length of the text before it.
            // Clamped: a replacement character stands for fewer bytes than it encodes in.
            return min(bytes.count, text[..<match.range.upperBound].utf8.count)
        }
    }
}
