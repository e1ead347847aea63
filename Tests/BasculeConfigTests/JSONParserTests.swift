import Testing
@testable import BasculeConfig

@Suite struct JSONParserTests {
    @Test func objectsKeepTheirMembersInFileOrder() throws {
        let value = try JSONParser.parse(#"{"b": 1, "a": [true, false, null], "c": {"d": "e"}}"#).get()
        #expect(value.objectMembers?.map(\.key) == ["b", "a", "c"])
        #expect(value["a"] == .array([.bool(true), .bool(false), .null]))
        #expect(value["c"]?["d"] == .string("e"))
    }

    @Test func numbersRememberWhetherTheyWereWrittenAsIntegers() throws {
        let value = try JSONParser.parse(#"[2, -0, 2.0, 1e3, -12.5E-2, 99999999999999999999]"#).get()
        guard case .array(let numbers) = value else { Issue.record("not an array"); return }
        let parsed = numbers.compactMap { if case .number(let n) = $0 { return n } else { return nil } }
        #expect(parsed.map(\.isInteger) == [true, true, false, false, false, true])
        #expect(parsed.map(\.literal) == ["2", "-0", "2.0", "1e3", "-12.5E-2", "99999999999999999999"])
        #expect(parsed[0].intValue == 2)
        #expect(parsed[2].intValue == nil)
        #expect(parsed[5].intValue == nil, "an integer too large for Int is not silently truncated")
        #expect(parsed[4].doubleValue == -0.125)
    }

    @Test func stringEscapesIncludingSurrogatePairsAreDecoded() throws {
        let value = try JSONParser.parse(#"["a\"b\\c\/d\b\f\n\r\t", "\u00e9\u4e2d", "\ud83d\ude00", "h\u00E9llo ✓"]"#).get()
        #expect(value == .array([.string("a\"b\\c/d\u{08}\u{0C}\n\r\t"), .string("é中"), .string("😀"),
                                 .string("héllo ✓")]))
    }

    @Test func syntaxErrorsGiveLineAndColumn() {
        let text = "{\n  \"a\": 1,\n  \"b\": [1, 2] \"c\": 3\n}"
        guard case .failure(let error) = JSONParser.parse(text) else {
            Issue.record("parsed invalid JSON"); return
        }
        #expect(error.line == 3)
        #expect(error.column == 15)
        #expect(error.description == "invalid JSON at line 3, column 15: expected ',' or '}'")
    }

    @Test func columnsCountCharactersNotBytes() {
        guard case .failure(let error) = JSONParser.parse(#"{"é✓": x}"#) else {
            Issue.record("parsed invalid JSON"); return
        }
        #expect(error.line == 1)
        #expect(error.column == 8)
    }

    @Test func syntaxErrorsNameTheContainerTheyAreIn() {
        guard case .failure(let error) = JSONParser.parse(#"{"services": [{"backends": [1 2]}]}"#) else {
            Issue.record("parsed invalid JSON"); return
        }
        #expect(error.path == "services[0].backends")
        #expect(error.reason == "expected ',' or ']'")
    }

    @Test func duplicateKeysAreRejectedAtTheSecondOccurrence() {
        guard case .failure(let error) = JSONParser.parse("{\"name\": \"a\",\n \"name\": \"b\"}") else {
            Issue.record("accepted a duplicate key"); return
        }
        #expect(error.reason == #"duplicate key "name""#)
        #expect(error.line == 2)
        #expect(error.column == 2)
    }

    @Test(arguments: [
        ("", "unexpected end of input (expected a value)"),
        ("{", "unexpected end of input (expected a key)"),
        (#"{"a":1,}"#, "expected a key after ',' (trailing commas are not allowed)"),
        ("[1,]", "expected a value after ',' (trailing commas are not allowed)"),
        (#"{"a" 1}"#, #"expected ':' after key "a""#),
        ("[01]", "numbers must not have leading zeros"),
        ("[1.]", "expected a digit after '.'"),
        ("[1e]", "expected a digit in the exponent"),
        ("[-]", "expected a digit after '-'"),
        ("[tru]", "unexpected 't' (expected a value)"),
        (#"["abc"#, "unterminated string"),
        ("[\"a\nb\"]", "control character U+000A in a string (write it as an escape)"),
        (#"["\x"]"#, #"invalid escape '\x'"#),
        (#"["\u12"]"#, #"expected four hex digits after \u"#),
        (#"["\ud83d"]"#, #"unpaired surrogate \uD83D"#),
        (#"["\ude00"]"#, #"unpaired surrogate \uDE00"#),
        ("[1] [2]", "unexpected '[' after the end of the document"),
        ("{'a': 1}", "expected a string key, found '''"),
    ])
    func malformedDocumentsAreRejectedWithAReason(text: String, reason: String) {
        guard case .failure(let error) = JSONParser.parse(text) else {
            Issue.record("parsed \(text)"); return
        }
        #expect(error.reason == reason)
    }

    @Test func invalidUTF8InAStringIsAnErrorNotAReplacementCharacter() {
        let bytes: [UInt8] = Array(#"["a"#.utf8) + [0xC3, 0x28] + Array(#""]"#.utf8)
        guard case .failure(let error) = JSONParser.parse(bytes) else {
            Issue.record("accepted invalid UTF-8"); return
        }
        #expect(error.reason == "string is not valid UTF-8")
    }

    @Test func aByteOrderMarkIsIgnored() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("{}".utf8)
        #expect(try JSONParser.parse(bytes).get() == .object([JSONMember]()))
    }

    @Test func deepNestingIsRejectedWithoutCrashing() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        guard case .failure(let error) = JSONParser.parse(deep) else {
            Issue.record("accepted 100000 levels"); return
        }
        #expect(error.reason == "nesting is deeper than 64 levels")
        #expect(error.column == 65)

        let objects = String(repeating: #"{"a":"#, count: 10_000)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(objects).get() }
    }

    @Test func nestingUpToTheLimitIsAccepted() throws {
        let text = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONParser.parse(text).get()
    }

    @Test func arbitraryBytesNeverCrashTheParser() {
        // A cheap in-test fuzz: deterministic pseudo-random mutations of a real config.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        let seed = Array(designConfig.utf8)
        for _ in 0..<2000 {
            var bytes = seed
            for _ in 0..<Int(next() % 8 + 1) {
                let position = Int(next() % UInt64(bytes.count))
                switch next() % 3 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: next())
                case 1: bytes.remove(at: position)
                default: bytes.insert(UInt8(truncatingIfNeeded: next()), at: position)
                }
            }
            _ = JSONParser.parse(bytes)
            _ = ConfigLoader.parse(bytes, knownStrategies: knownStrategies)
        }
    }
}
