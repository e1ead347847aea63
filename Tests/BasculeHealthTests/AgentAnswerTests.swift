import Testing
@testable import BasculeHealth

@Suite struct AgentAnswerTests {
    @Test func wordsReasonsAndPercentagesAreRead() {
        #expect(AgentAnswer.parse("drain") == AgentAnswer(administrative: .drain))
        #expect(AgentAnswer.parse("UP, 75%") == AgentAnswer(operational: .up, weightPercent: 75))
        #expect(AgentAnswer.parse("down #replication lag 40 s") == AgentAnswer(operational: .down, reason: "replication lag 40 s"))
        #expect(AgentAnswer.parse("ready\tup maxconn:30 100%\r") == AgentAnswer(operational: .up, administrative: .ready, weightPercent: 100))
        #expect(AgentAnswer.parse("stopped") == AgentAnswer(operational: .down))
        #expect(AgentAnswer.parse("maint") == AgentAnswer(administrative: .maint))
    }

    @Test func unknownWordsAndEmptyLinesAreNotAnswers() {
        #expect(AgentAnswer.parse("") == nil)
        #expect(AgentAnswer.parse("# only a reason") == nil)
        #expect(AgentAnswer.parse("drian") == nil)
        // A typo next to a good word must not half-apply.
        #expect(AgentAnswer.parse("drain 50") == nil)
        #expect(AgentAnswer.parse("1001%") == nil)
        #expect(AgentAnswer.parse("-5%") == nil)
    }

    @Test func answersChangeOnlyWhatTheyNameAsInHAProxy() throws {
        var agent = AgentSnapshot(target: "127.0.0.1:9777")
        #expect(agent.word == "up")
        agent.apply(try #require(AgentAnswer.parse("drain")))
        #expect(agent.word == "drain")
        // `up` is the operational state: the drain stays until `ready`.
        agent.apply(try #require(AgentAnswer.parse("up 50%")))
        #expect(agent.administrative == .drain && agent.weightPercent == 50)
        agent.apply(try #require(AgentAnswer.parse("ready")))
        #expect(agent.word == "50%")
        agent.apply(try #require(AgentAnswer.parse("down #disk full")))
        #expect(agent.word == "down" && agent.reason == "disk full" && agent.weightPercent == 50)
    }
}
