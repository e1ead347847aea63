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
    /// Samples as exposition lines, appended in place: a page of 10,000 backends has a few
    /// hundred thousand of them, and one string per line (then joined) cost most of its render.
    private var body = ""

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

    /// `service="a",backend="b"`: labels escaped and joined once, for a series that many
    /// samples share (every family of one backend).
    public static func labelText(_ labels: [(String, String)]) -> String {
        var text = ""
        for (index, label) in labels.enumerated() {
            if index > 0 { text += "," }
            text += label.0
            text += "=\""
            text += MetricsPage.escapeLabel(label.1)
            text += "\""
        }
        return text
    }

    public mutating func add(_ value: Double, _ labels: [(String, String)] = []) {
        add(value, labelText: Self.labelText(labels))
    }

    public mutating func add(_ value: Int, _ labels: [(String, String)] = []) {
        add(Double(value), labels)
    }

    /// One sample with labels already rendered by `labelText`, and optionally one more label
    /// (`extraName` = `extraValue`, which must need no escaping: a state, a reason, a bound).
    public mutating func add(_ value: Double, labelText: String, _ extraName: String? = nil, _ extraValue: String = "") {
        append(name, labelText, extraName, extraValue, value)
    }

    public mutating func add(_ value: Int, labelText: String, _ extraName: String? = nil, _ extraValue: String = "") {
        append(name, labelText, extraName, extraValue, Double(value))
    }

    /// One histogram series: `buckets` are upper bounds with the number of observations at or
    /// below each (cumulative); the +Inf bucket is added from `count`.
    public mutating func addHistogram(_ labels: [(String, String)] = [], buckets: [(le: Double, count: Int)],
                                      sum: Double, count: Int) {
        addHistogram(labelText: Self.labelText(labels), bounds: buckets.map { MetricsPage.format($0.le) },
                     cumulative: buckets.map(\.count), sum: sum, count: count)
    }

    /// The same with the labels rendered and the bounds formatted once for many series.
    /// Infinite bounds are skipped: the +Inf bucket is `count`.
    public mutating func addHistogram(labelText: String, bounds: [String], cumulative: [Int], sum: Double, count: Int) {
        precondition(kind == .histogram, "\(name) is not a histogram")
        let bucketName = name + "_bucket"
        for (bound, bucketCount) in zip(bounds, cumulative) where bound != "+Inf" {
            append(bucketName, labelText, "le", bound, Double(bucketCount))
        }
        append(bucketName, labelText, "le", "+Inf", Double(count))
        append(name + "_sum", labelText, nil, "", sum)
        append(name + "_count", labelText, nil, "", Double(count))
    }

    public var hasSamples: Bool { !body.isEmpty }

    public var rendered: String {
        "# HELP \(name) \(MetricsPage.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n" + body
    }

    private mutating func append(_ sampleName: String, _ labelText: String, _ extraName: String?, _ extraValue: String,
                                 _ value: Double) {
        body += sampleName
        if !labelText.isEmpty || extraName != nil {
            body += "{"
            body += labelText
            if let extraName {
                if !labelText.isEmpty { body += "," }
                body += extraName
                body += "=\""
                body += extraValue
                body += "\""
            }
            body += "}"
        }
        body += " "
        body += MetricsPage.format(value)
        body += "\n"
    }
}
