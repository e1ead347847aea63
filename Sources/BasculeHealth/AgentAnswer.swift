/// One line from a backend's agent, in HAProxy's agent-check vocabulary: words separated by
/// spaces, tabs or commas, case-insensitive, and an optional `#reason` to the end of the line.
/// `up` / `down` (also `fail`, `stopped`) set the operational state; `ready`, `drain`, `maint`
/// the administrative one; `75%` the weight as a share of the configured one; `maxconn:N` is
/// understood and ignored. Each answer changes only what it names, as in HAProxy.
struct AgentAnswer: Sendable, Equatable {
    var operational: AgentSnapshot.Operational?
    var administrative: AgentSnapshot.Administrative?
    var weightPercent: Int?
    var reason: String?

    /// Weight shares above this are refused: scaled weights stay within what strategies take.
    static let maximumPercent = 1000

    /// The answer, or nil when the line holds no word the agent vocabulary knows (or a word
    /// it does not know: a typo must not be half-applied).
    static func parse(_ line: String) -> AgentAnswer? {
        var answer = AgentAnswer()
        var words = Substring(line)
        if let hash = line.firstIndex(of: "#") {
            let reason = line[line.index(after: hash)...].trimmingWhitespace()
            answer.reason = reason.isEmpty ? nil : reason
            words = line[..<hash]
        }
        var recognised = false
        for word in words.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," || $0 == "\r" || $0 == "\n" }) {
            let lower = word.lowercased()
            switch lower {
            case "up": answer.operational = .up
            case "down", "fail", "stopped": answer.operational = .down
            case "ready": answer.administrative = .ready
            case "drain": answer.administrative = .drain
            case "maint": answer.administrative = .maint
            default:
                if lower.hasPrefix("maxconn:"), Int(lower.dropFirst("maxconn:".count)) != nil {
                    break
                } else if lower.hasSuffix("%"), let percent = Int(lower.dropLast()), (0...maximumPercent).contains(percent) {
                    answer.weightPercent = percent
                } else {
                    return nil
                }
            }
            recognised = true
        }
        return recognised ? answer : nil
    }
}

/// What a backend's agent has said so far, accumulated over its answers.
public struct AgentSnapshot: Sendable, Equatable {
    public enum Operational: String, Sendable { case up, down }
    public enum Administrative: String, Sendable { case ready, drain, maint }

    /// Where the agent answers ("127.0.0.1:9777").
    public var target: String
    public var operational = Operational.up
    public var administrative = Administrative.ready
    /// Share of the configured weight, 100 until the agent says otherwise.
    public var weightPercent = 100
    /// The last line the agent sent, as sent (trimmed), and its `#reason`.
    public var said = ""
    public var reason = ""
    /// Whether the last poll got an answer; an agent that cannot be reached changes nothing
    /// (connectivity is the health check's business, as in HAProxy).
    public var reachable = false
    /// Why the last poll got no usable answer, empty when it did.
    public var lastError = ""
    public var pollsTotal: UInt64 = 0
    public var failuresTotal: UInt64 = 0

    public init(target: String) {
        self.target = target
    }

    /// The one word an operator reads: what the agent's state does to new connections.
    public var word: String {
        if operational == .down { return "down" }
        if administrative != .ready { return administrative.rawValue }
        if weightPercent != 100 { return "\(weightPercent)%" }
        return "up"
    }

    mutating func apply(_ answer: AgentAnswer) {
        if let operational = answer.operational { self.operational = operational }
        if let administrative = answer.administrative { self.administrative = administrative }
        if let percent = answer.weightPercent { weightPercent = percent }
        reason = answer.reason ?? ""
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
