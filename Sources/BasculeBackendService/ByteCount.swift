/// Parses sizes an operator types: `1048576`, `64K`, `64KiB`, `10M`, `1MiB`, `2G`, `2GiB`.
/// Every suffix is binary (K = 1024): content sizes are about buffers, not disk marketing.
public enum ByteCount {
    public static func parse(_ text: some StringProtocol) -> UInt64? {
        let trimmed = text.trimmingCharacters(in: " ")
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = UInt64(digits) else { return nil }
        let multiplier: UInt64
        switch trimmed.dropFirst(digits.count).lowercased() {
        case "", "b": multiplier = 1
        case "k", "kib", "kb": multiplier = 1 << 10
        case "m", "mib", "mb": multiplier = 1 << 20
        case "g", "gib", "gb": multiplier = 1 << 30
        default: return nil
        }
        let (result, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : result
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in character: Character) -> Substring {
        var result = self[...]
        while result.first == character { result = result.dropFirst() }
        while result.last == character { result = result.dropLast() }
        return Substring(result)
    }
}
