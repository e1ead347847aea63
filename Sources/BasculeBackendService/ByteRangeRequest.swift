/// A single `Range: bytes=…` request resolved against a resource length.
public enum ByteRangeRequest: Sendable, Equatable {
    /// Serve everything with 200: no Range header, or one that is ignored.
    case full
    /// Serve `first...last` (inclusive) with 206.
    case partial(first: UInt64, last: UInt64)
    /// Answer 416 with `Content-Range: bytes */length`.
    case unsatisfiable

    /// Resolves a Range header value. Syntactically invalid values and multi-range requests are
    /// ignored (RFC 9110 §14.2 allows it), so the client gets the whole resource.
    public static func resolve(_ header: String?, length: UInt64) -> ByteRangeRequest {
        guard let header else { return .full }
        let value = Substring(header).trimmingSpaces()
        guard value.lowercased().hasPrefix("bytes=") else { return .full }
        let spec = value.dropFirst(6).trimmingSpaces()
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .full }
        let startText = spec[..<dash].trimmingSpaces()
        let endText = spec[spec.index(after: dash)...].trimmingSpaces()

        if startText.isEmpty {
            // Suffix range: the last N bytes.
            guard let suffix = UInt64(endText) else { return .full }
            guard suffix > 0, length > 0 else { return .unsatisfiable }
            return .partial(first: length - min(suffix, length), last: length - 1)
        }
        guard let first = UInt64(startText) else { return .full }
        var last = length &- 1
        if !endText.isEmpty {
            guard let requestedLast = UInt64(endText) else { return .full }
            guard requestedLast >= first else { return .full }
            last = min(requestedLast, length &- 1)
        }
        guard first < length else { return .unsatisfiable }
        return .partial(first: first, last: last)
    }
}
