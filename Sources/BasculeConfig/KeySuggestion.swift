/// "Did you mean" for unknown keys. A candidate is offered when it differs by a typo or two,
/// or only in case and separators (`connect_timeout_ms` for `connectTimeoutMs`).
enum KeySuggestion {
    static func closest(to key: String, among candidates: [String]) -> String? {
        let normalizedKey = normalized(key)
        if let same = candidates.first(where: { normalized($0) == normalizedKey }) {
            return same
        }
        // Long keys tolerate more typos; a one-letter key matching anything would be noise.
        let tolerance = min(3, max(1, key.count / 4))
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(Array(key.lowercased().unicodeScalars),
                                        Array(candidate.lowercased().unicodeScalars),
                                        limit: tolerance)
            if distance <= tolerance, distance < (best?.distance ?? Int.max) {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    private static func normalized(_ key: String) -> String {
        String(key.lowercased().unicodeScalars.filter { $0 != "_" && $0 != "-" })
    }

    /// Levenshtein distance, giving up (returning `limit + 1`) once it must exceed `limit`,
    /// so a hostile 1 MB key costs no more than a short one.
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], limit: Int) -> Int {
        if abs(a.count - b.count) > limit { return limit + 1 }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...max(1, a.count) where !a.isEmpty {
            current[0] = i
            var rowMinimum = current[0]
            for j in 1...max(1, b.count) where !b.isEmpty {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(substitution, previous[j] + 1, current[j - 1] + 1)
                rowMinimum = min(rowMinimum, current[j])
            }
            if rowMinimum > limit { return limit + 1 }
            swap(&previous, &current)
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
