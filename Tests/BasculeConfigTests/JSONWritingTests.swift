@testable import BasculeConfig
import Foundation
import Testing

@Suite struct JSONWritingTests {
    @Test func escapesEverythingJSONAndHTMLNeed() throws {
        let text = "q\" b\\ n\n t\t c\u{01} </script> & é ✓"
        let rendered = JSONValue.object([("k", .string(text)), ("n", .double(.infinity)), ("i", .int(-3))]).rendered
        #expect(!rendered.contains("</script>"))
        #expect(rendered.contains("\\u003C/script\\u003E"))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(rendered.utf8)) as? [String: Any])
        #expect(parsed["k"] as? String == text)
        #expect(parsed["n"] is NSNull)
        #expect(parsed["i"] as? Int == -3)
    }

    @Test func whatIsWrittenParsesBackToTheSameValue() throws {
        let value = JSONValue.object([("name", .string("a\"b\u{7F}<")), ("n", .int(42)), ("x", .double(0.5)),
                                      ("list", .array([.bool(true), .null]))])
        #expect(try JSONParser.parse(Array(value.rendered.utf8)).get() == value)
    }

    @Test func errorMessagesQuoteWithTheSameEscapesButKeepHTMLReadable() {
        #expect(quotedForMessage("a<b\n\"") == #""a<b\n\"""#)
        #expect(quotedForMessage(String(repeating: "x", count: 5), limit: 3) == "\"xxx…\"")
    }
}
