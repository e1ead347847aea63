/// Textual IPv4/IPv6 addresses read from and written to raw byte buffers, for the PROXY v1
/// line on the hot path. Hand-written rather than inet_pton/inet_ntop because both sides
/// work on slices of a caller's buffer: libc would need a NUL-terminated copy per call.
/// (Config's `IPAddress` uses inet_pton: it parses once, at load.)
///
/// Accepts what glibc's inet_pton accepts and nothing more (the fuzz target `address`
/// checks that differentially), which is also what the PROXY protocol asks of v1 lines:
/// no leading zeros in IPv4 numbers, at most one "::", exactly 128 bits.
enum IPAddressText {
    static let maximumIPv4Length = 15  // 255.255.255.255
    static let maximumIPv6Length = 45  // ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255

    /// A dotted quad occupying exactly `bytes[start..<end]`, in host byte order.
    static func parseIPv4(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> UInt32? {
        guard start >= 0, start < end, end <= bytes.count, end - start <= maximumIPv4Length else { return nil }
        var result: UInt32 = 0
        var octets = 0
        var index = start
        while true {
            var value: UInt32 = 0
            var digits = 0
            let octetStart = index
            while index < end, let digit = decimalDigit(bytes[index]) {
                value = value * 10 + UInt32(digit)
                digits += 1
                index += 1
                guard digits <= 3 else { return nil }
            }
            // A leading zero would read as octal to some parsers: refuse the ambiguity.
            guard digits > 0, value <= 255, !(digits > 1 && bytes[octetStart] == UInt8(ascii: "0")) else {
                return nil
            }
            result = result << 8 | value
            octets += 1
            if octets == 4 { return index == end ? result : nil }
            guard index < end, bytes[index] == UInt8(ascii: ".") else { return nil }
            index += 1
        }
    }

    /// An IPv6 literal (optionally ending in a dotted quad) occupying exactly `bytes[start..<end]`.
    static func parseIPv6(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> (high: UInt64, low: UInt64)? {
        guard start >= 0, start < end, end <= bytes.count, end - start <= maximumIPv6Length else { return nil }
        var groups = SIMD8<UInt16>()
        var count = 0
        var gap: Int? = nil
        var index = start
        if bytes[index] == UInt8(ascii: ":") {
            guard index + 1 < end, bytes[index + 1] == UInt8(ascii: ":") else { return nil }
            gap = 0
            index += 2
        }
        while index < end {
            let groupStart = index
            var value: UInt16 = 0
            var digits = 0
            while index < end, let digit = hexDigit(bytes[index]) {
                guard digits < 4 else { return nil }
                value = value << 4 | UInt16(digit)
                digits += 1
                index += 1
            }
            if index < end, bytes[index] == UInt8(ascii: ".") {
                guard count <= 6, let v4 = parseIPv4(bytes, from: groupStart, to: end) else { return nil }
                groups[count] = UInt16(truncatingIfNeeded: v4 >> 16)
                groups[count + 1] = UInt16(truncatingIfNeeded: v4)
                count += 2
                break
            }
            guard digits > 0, count < 8 else { return nil }
            groups[count] = value
            count += 1
            if index == end { break }
            guard bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            if index < end, bytes[index] == UInt8(ascii: ":") {
                guard gap == nil else { return nil }
                gap = count
                index += 1
            } else {
                // "1:" — a single colon must be followed by another group.
                guard index < end else { return nil }
            }
        }
        if let gap {
            // "::" stands for at least one zero group, so a full set of eight is malformed.
            guard count < 8 else { return nil }
            let moved = count - gap
            var expanded = SIMD8<UInt16>()
            for i in 0..<gap { expanded[i] = groups[i] }
            for i in 0..<moved { expanded[8 - moved + i] = groups[gap + i] }
            groups = expanded
        } else {
            guard count == 8 else { return nil }
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<4 { high = high << 16 | UInt64(groups[i]) }
        for i in 4..<8 { low = low << 16 | UInt64(groups[i]) }
        return (high, low)
    }

    /// Writes `value` in dotted-quad form at `offset`; returns the offset after it.
    /// The caller guarantees `maximumIPv4Length` bytes of room.
    static func writeIPv4(_ value: UInt32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        var cursor = offset
        for shift in stride(from: 24, through: 0, by: -8) {
            if shift != 24 {
                buffer[cursor] = UInt8(ascii: ".")
                cursor += 1
            }
            cursor = writeDecimal(UInt16(truncatingIfNeeded: value >> UInt32(shift) & 0xFF), into: buffer, at: cursor)
        }
        return cursor
    }

    /// Writes the RFC 5952 form (lowercase, no leading zeros, the longest run of two or more
    /// zero groups as "::", IPv4-mapped addresses as ::ffff:a.b.c.d like inet_ntop).
    /// The caller guarantees `maximumIPv6Length` bytes of room.
    static func writeIPv6(high: UInt64, low: UInt64, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        var cursor = offset
        if high == 0, low >> 32 == 0xFFFF {
            for byte in "::ffff:".utf8 {
                buffer[cursor] = byte
                cursor += 1
            }
            return writeIPv4(UInt32(truncatingIfNeeded: low), into: buffer, at: cursor)
        }
        var groups = SIMD8<UInt16>()
        for i in 0..<4 {
            groups[i] = UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * i))
            groups[4 + i] = UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * i))
        }
        var bestStart = -1, bestLength = 1
        var runStart = -1
        for i in 0...8 {
            if i < 8, groups[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength {
                    bestStart = runStart
                    bestLength = i - runStart
                }
                runStart = -1
            }
        }
        var i = 0
        while i < 8 {
            if i == bestStart {
                buffer[cursor] = UInt8(ascii: ":")
                buffer[cursor + 1] = UInt8(ascii: ":")
                cursor += 2
                i += bestLength
                continue
            }
            if i > 0, i != bestStart + bestLength {
                buffer[cursor] = UInt8(ascii: ":")
                cursor += 1
            }
            cursor = writeHex(groups[i], into: buffer, at: cursor)
            i += 1
        }
        return cursor
    }

    static func writeDecimal(_ value: UInt16, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        var divisor: UInt16 = 10000
        while divisor > 1, value < divisor { divisor /= 10 }
        var cursor = offset
        var remaining = value
        while divisor > 0 {
            buffer[cursor] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: remaining / divisor)
            remaining %= divisor
            divisor /= 10
            cursor += 1
        }
        return cursor
    }

    private static func writeHex(_ value: UInt16, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        let digits: StaticString = "0123456789abcdef"
        var shift = 12
        while shift > 0, value >> UInt16(shift) == 0 { shift -= 4 }
        var cursor = offset
        while shift >= 0 {
            buffer[cursor] = digits.utf8Start[Int(value >> UInt16(shift) & 0xF)]
            cursor += 1
            shift -= 4
        }
        return cursor
    }

    static func decimalDigit(_ byte: UInt8) -> UInt8? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : nil
    }

    static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
