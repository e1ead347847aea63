@testable import BasculeAdmin
import Foundation
import Testing

@Suite struct JSONValueTests {
    @Test func escapesEverythingJSONAndHTMLNeed() throws {
        let text = "q\" b\\ n\n t\t c\u{01} </script> & é ✓"
        let rendered = JSONValue.object([("k", .string(text)), ("n", .double(.infinity)), ("i", .int(-3))]).rendered
        #expect(!rendered.contains("</script>"))
        #expect(rendered.contains("\\u003c/script\\u003e"))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(rendered.utf8)) as? [String: Any])
        #expect(parsed["k"] as? String == text)
        #expect(parsed["n"] is NSNull)
        #expect(parsed["i"] as? Int == -3)
    }
}
