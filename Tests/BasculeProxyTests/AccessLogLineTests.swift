import BasculeConfig
@testable import BasculeProxy
import BasculePosix
import Testing

@Suite struct AccessLogLineTests {
    private func record(client: SocketAddress, backend: String?, backendAddress: SocketAddress?, connectNs: UInt64?,
                        totalNs: UInt64, end: CloseReason, backendClosedFirst: Bool = false) -> AccessLogRecord {
        AccessLogRecord(worker: 1, sequence: 42, service: "publishing", listen: Endpoint(host: "127.0.0.1", port: 8081),
                        client: client, backend: backend, backendAddress: backendAddress,
                        queueNs: connectNs == nil ? nil : 0, connectNs: connectNs, totalNs: totalNs, retries: 1,
                        bytesIn: 120, bytesOut: 2048, serviceActive: 3, backendActive: 2,
                        end: end, backendClosedFirst: backendClosedFirst)
    }

    @Test func aLineIsOneJSONObjectWithEveryField() throws {
        var buffer: [UInt8] = []
        let client = SocketAddress(Endpoint(host: "127.0.0.1", port: 51234))
        let backend = SocketAddress(Endpoint(host: "127.0.0.1", port: 9102))
        AccessLogLine.append(to: &buffer, record(client: client, backend: "pub2", backendAddress: backend,
                                                 connectNs: 410_000, totalNs: 12_700_000, end: .completed))
        let text = String(decoding: buffer, as: UTF8.self)
        let stamp = #"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"#
        let pattern = try Regex(#"\{"time":"\#(stamp)","accepted":"\#(stamp)","id":"1-42","service":"publishing","listen":"127\.0\.0\.1:8081","client":"127\.0\.0\.1:51234","backend":"pub2","backendAddress":"127\.0\.0\.1:9102","queueMs":0\.00,"connectMs":0\.41,"durationMs":12\.70,"retries":1,"bytesIn":120,"bytesOut":2048,"serviceActive":3,"backendActive":2,"termination":"--","end":"client closed"\}\n"#)
        #expect(text.wholeMatch(of: pattern) != nil, "\(text)")
    }

    @Test func noBackendAndNoConnectAreNull() throws {
        var buffer: [UInt8] = []
        let client = SocketAddress(Endpoint(host: "::1", port: 80))
        AccessLogLine.append(to: &buffer, record(client: client, backend: nil, backendAddress: nil, connectNs: nil,
                                                 totalNs: 4_000, end: .noBackend))
        let text = String(decoding: buffer, as: UTF8.self)
        #expect(text.contains(#""client":"[::1]:80","backend":null,"backendAddress":null,"queueMs":null,"connectMs":null,"durationMs":0.00,"#), "\(text)")
        #expect(text.hasSuffix(#""termination":"NC","end":"no backend"}"# + "\n"), "\(text)")
    }

    @Test func theAcceptTimeIsTheCloseTimeLessTheDuration() throws {
        var buffer: [UInt8] = []
        let client = SocketAddress(Endpoint(host: "127.0.0.1", port: 1))
        AccessLogLine.append(to: &buffer, record(client: client, backend: nil, backendAddress: nil, connectNs: nil,
                                                 totalNs: 61_500_000_000, end: .idleTimeout))
        let text = String(decoding: buffer, as: UTF8.self)
        let match = try #require(text.firstMatch(of: /"time":"[^"]*T(\d\d):(\d\d):(\d\d)\.(\d{3})Z","accepted":"[^"]*T(\d\d):(\d\d):(\d\d)\.(\d{3})Z"/))
        func ms(_ h: Substring, _ m: Substring, _ s: Substring, _ f: Substring) -> Int {
            ((Int(h)! * 60 + Int(m)!) * 60 + Int(s)!) * 1000 + Int(f)!
        }
        let closed = ms(match.1, match.2, match.3, match.4)
        let accepted = ms(match.5, match.6, match.7, match.8)
        #expect((closed - accepted + 86_400_000) % 86_400_000 == 61_500, "\(text)")
    }

    @Test func everyCloseReasonHasADistinctTwoLetterCodeButLimitRefusals() {
        let reasons: [CloseReason] = [.completed, .clientError, .backendError, .idleTimeout, .noBackend, .connectFailed,
                                      .descriptorLimit, .refusedByLimit, .deniedByAccessList, .badProxyHeader, .shutdown]
        let codes = reasons.map { "\($0.terminationCode)" }
        #expect(codes.allSatisfy { $0.utf8.count == 2 })
        #expect(Set(codes).count == codes.count)
        #expect("\(CloseReason.backendsFull.terminationCode)" == "\(CloseReason.refusedByLimit.terminationCode)")
    }

    @Test func timestampsAreUTCWithZeroPaddedMilliseconds() {
        let stamp = AccessLogLine.timestamp()
        #expect(stamp.wholeMatch(of: /\d{4}-(0[1-9]|1[0-2])-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(stamp)")
    }
}
