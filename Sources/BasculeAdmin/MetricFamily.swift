/// One metric family in the Prometheus text exposition format 0.0.4: HELP and TYPE once, then
/// all of its samples together, as the format requires. Public so providers given to
/// `AdminServer.extraMetrics` (health checks, worker histograms) write the same escaped text.
public struct MetricFamily: Sendable {
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    public let name: String
    public let help: String
    public let kind: Kind
    private var lines: [String] = []

    public init(name: String, help: String, type kind: Kind) {
        precondition(kind != .counter || name.hasSuffix("_total"), "counter \(name) must end in _total")
        self.name = name
        self.help = help
        self.kind = kind
    }

    /// Keeps the string form the page builders above use.
    init(name: String, help: String, type: String) {
        self.init(name: name, help: help, type: Kind(rawValue: type)!)
    }

    public mutating func add(_ value: Double, _ labels: [(String, String)] = []) {
        lines.append(Self.sample(name, labels, value))
    }

    public mutating func add(_ value: Int, _ labels: [(String, String)] = []) {
        add(Double(value), labels)
    }

    /// One histogram series: `buckets` are upper bounds with the number of observations at or
    /// below each (cumulative); the +Inf bucket is added from `count`.
    public mutating func addHistogram(_ labels: [(String, String)] = [], buckets: [(le: Double, count: Int)],
                                      sum: Double, count: Int) {
        precondition(kind == .histogram, "\(name) is not a histogram")
        for bucket in buckets where bucket.le.isFinite {
            lines.append(Self.sample(name + "_bucket", labels + [("le", MetricsPage.format(bucket.le))], Double(bucket.count)))
        }
        lines.append(Self.sample(name + "_bucket", labels + [("le", "+Inf")], Double(count)))
        lines.append(Self.sample(name + "_sum", labels, sum))
        lines.append(Self.sample(name + "_count", labels, Double(count)))
    }

    public var hasSamples: Bool { !lines.isEmpty }

    public var rendered: String {
        var out = "# HELP \(name) \(MetricsPage.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
        for line in lines { out += line + "\n" }
        return out
    }

    private static func sample(_ name: String, _ labels: [(String, String)], _ value: Double) -> String {
        var line = name
        if !labels.isEmpty {
            line += "{" + labels.map { "\($0.0)=\"\(MetricsPage.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
        }
        return line + " " + MetricsPage.format(value)
    }
}
