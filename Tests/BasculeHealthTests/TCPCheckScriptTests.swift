import BasculeConfig
import Testing
@testable import BasculeHealth

@Suite struct TCPCheckScriptTests {
    private func feed(_ script: inout TCPCheckScript, _ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { script.consume($0) }
    }

    @Test func stepsRunInOrderAndAnAnswerMayArriveInPieces() {
        var script = TCPCheckScript([TCPCheckStep(.send(Array("ROLE\r\n".utf8)), timeoutMs: 100),
                                     TCPCheckStep(.expectSubstring("primary"), timeoutMs: 100)])
        guard case .send(let bytes)? = script.current else { Issue.record("first step is not a send"); return }
        #expect(bytes == Array("ROLE\r\n".utf8))
        script.sent()
        #expect(!feed(&script, "role: pri"))
        #expect(feed(&script, "mary\r\n"))
        #expect(script.current == nil)
    }

    @Test func aRegexMatchesCRLFAsTwoCharactersAndBytesAfterAMatchCarryOver() {
        var script = TCPCheckScript([TCPCheckStep(.expectRegex(#"^role: (primary|master)\r\n"#), timeoutMs: 100),
                                     TCPCheckStep(.expectRegex(#"lag=\d+"#), timeoutMs: 100)])
        #expect(feed(&script, "role: master\r\nlag=12\r\n"))
        // The second expectation is met by what arrived with the first.
        let metByBuffered = script.matchBuffered()
        #expect(metByBuffered)
        #expect(script.current == nil)
    }

    @Test func aReplicaDoesNotMatchAndTheReasonShowsWhatItSaid() {
        var script = TCPCheckScript([TCPCheckStep(.expectRegex(#"^role: primary\r\n"#), timeoutMs: 100)])
        #expect(!feed(&script, "role: replica\r\n"))
        #expect(script.currentDescription == #"step 1 (expect /^role: primary\r\n/)"#)
        #expect(script.receivedExcerpt == #"role: replica\r\n"#)
        script.restart()
        #expect(script.receivedExcerpt == "")
    }

    @Test func binaryAnswersAreSearchedAsBytes() {
        var script = TCPCheckScript([TCPCheckStep(.expectSubstring("OK"), timeoutMs: 100)])
        let answer: [UInt8] = [0xff, 0x00, 0xfe, 0x4f, 0x4b]
        let matched = answer.withUnsafeBytes { script.consume($0) }
        #expect(matched)
    }
}
