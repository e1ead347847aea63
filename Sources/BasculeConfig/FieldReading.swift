/// An object from the file together with where it is, so every field read from it can be
/// reported with its full path.
struct ObjectAtPath {
    let path: JSONPath
    let members: [JSONMember]

    /// The value of `key`; nil when absent. A JSON `null` counts as absent, so an optional
    /// setting can be written out explicitly as unset.
    subscript(key: String) -> JSONValue? {
        guard let value = members.first(where: { $0.key == key })?.value, value != .null else { return nil }
        return value
    }

    func has(_ key: String) -> Bool { self[key] != nil }
}

enum IntRule {
    case positive
    case nonNegative
    case range(ClosedRange<Int>)

    func violation(_ value: Int) -> String? {
        switch self {
        case .positive where value <= 0: return "must be greater than 0, got \(value)"
        case .nonNegative where value < 0: return "must be 0 or more, got \(value)"
        case .range(let range) where !range.contains(value):
            return "must be between \(range.lowerBound) and \(range.upperBound), got \(value)"
        default: return nil
        }
    }
}

/// Typed reads that record a readable error and return nil instead of stopping, which is
/// what lets one pass report every problem in the file.
struct ErrorCollector {
    private(set) var errors: [ConfigError] = []

    mutating func report(_ path: JSONPath, _ message: String) {
        errors.append(ConfigError(path: path.description, message: message))
    }

    /// The value as an object whose keys are all in `allowedKeys`; unknown keys are
    /// reported (with a suggestion) but do not stop the known ones from being read.
    mutating func object(_ value: JSONValue, at path: JSONPath, allowedKeys: [String]) -> ObjectAtPath? {
        guard let members = value.objectMembers else {
            report(path, "expected an object, got \(value.summaryForMessages)")
            return nil
        }
        for member in members where !allowedKeys.contains(member.key) {
            if let suggestion = KeySuggestion.closest(to: member.key, among: allowedKeys) {
                report(path.key(member.key), "unknown key (did you mean \(quotedForMessage(suggestion))?)")
            } else {
                report(path.key(member.key), "unknown key (known keys: \(allowedKeys.joined(separator: ", ")))")
            }
        }
        return ObjectAtPath(path: path, members: members)
    }

    mutating func int(_ object: ObjectAtPath, _ key: String, _ rule: IntRule) -> Int? {
        guard let value = object[key] else { return nil }
        return int(value, at: object.path.key(key), rule)
    }

    mutating func int(_ value: JSONValue, at path: JSONPath, _ rule: IntRule) -> Int? {
        guard case .number(let number) = value, number.isInteger else {
            report(path, "expected an integer, got \(value.summaryForMessages)")
            return nil
        }
        guard let integer = number.intValue else {
            report(path, "\(number.literal) is too large")
            return nil
        }
        if let violation = rule.violation(integer) {
            report(path, violation)
            return nil
        }
        return integer
    }

    mutating func string(_ object: ObjectAtPath, _ key: String) -> String? {
        guard let value = object[key] else { return nil }
        guard case .string(let text) = value else {
            report(object.path.key(key), "expected a string, got \(value.summaryForMessages)")
            return nil
        }
        return text
    }

    mutating func bool(_ object: ObjectAtPath, _ key: String) -> Bool? {
        guard let value = object[key] else { return nil }
        guard case .bool(let flag) = value else {
            report(object.path.key(key), "expected true or false, got \(value.summaryForMessages)")
            return nil
        }
        return flag
    }

    mutating func array(_ object: ObjectAtPath, _ key: String) -> [JSONValue]? {
        guard let value = object[key] else { return nil }
        guard case .array(let elements) = value else {
            report(object.path.key(key), "expected an array, got \(value.summaryForMessages)")
            return nil
        }
        return elements
    }

    /// A string that must be one of `choices`, e.g. `"affinity": "single"`.
    mutating func choice<Choice: RawRepresentable<String>>(_ object: ObjectAtPath, _ key: String,
                                                        what: String, choices: [Choice]) -> Choice? {
        guard let text = string(object, key) else { return nil }
        if let choice = choices.first(where: { $0.rawValue == text }) { return choice }
        let known = choices.map(\.rawValue).joined(separator: ", ")
        report(object.path.key(key), "unknown \(what) \(quotedForMessage(text)) (known: \(known))")
        return nil
    }

    mutating func endpoint(_ object: ObjectAtPath, _ key: String) -> ParsedEndpoint? {
        guard let text = string(object, key) else { return nil }
        switch EndpointParsing.parse(text) {
        case .success(let parsed):
            return parsed
        case .failure(let error):
            report(object.path.key(key), error.message)
            return nil
        }
    }
}
