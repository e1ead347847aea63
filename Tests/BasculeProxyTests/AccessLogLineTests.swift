import BasculeConfig
@testable import BasculeProxy
import BasculePosix
import Testing

@Suite struct AccessLogLineTests {
    @Test func aLineIsOneJSONObjectWithEveryField() throws {
        var buffer: [UInt8] = []
        let client = SocketAddress(Endpoint(host: "127.0.0.1", port: 51234))
        AccessLogLine.append(to: &buffer, service: "publishing", client: client, backend: "pub2", connectMs: 0.41,
                             durationMs: 12.7, bytesIn: 120, bytesOut: 2048, end: "client closed")
        let text = String(decoding: buffer, as: UTF8.self)
        let pattern = /\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","service":"publishing","client":"127\.0\.0\.1:51234","backend":"pub2","connectMs":0\.41,"durationMs":12\.70,"bytesIn":120,"bytesOut":2048,"end":"client closed"\}\n/
        #expect(text.wholeMatch(of: pattern) != nil, "\(text)")
    }

    @Test func noBackendAndNoConnectAreNull() throws {
        var buffer: [UInt8] = []
        let client = SocketAddress(Endpoint(host: "::1", port: 80))
        AccessLogLine.append(to: &buffer, service: "s", client: client, backend: nil, connectMs: nil,
                             durationMs: 0.004, bytesIn: 0, bytesOut: 0, end: "no backend")
        let text = String(decoding: buffer, as: UTF8.self)
        #expect(text.contains(#""client":"[::1]:80","backend":null,"connectMs":null,"durationMs":0.00,"#), "\(text)")
    }

    @Test func timestampsAreUTCWithZeroPaddedMilliseconds() {
        let stamp = AccessLogLine.timestamp()
        #expect(stamp.wholeMatch(of: /\d{4}-(0[1-9]|1[0-2])-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(stamp)")
    }
}
