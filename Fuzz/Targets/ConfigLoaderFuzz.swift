/// Feeds arbitrary bytes to `ConfigLoader.parse` (JSON syntax, then validation). Compiled
/// together with the BasculeConfig sources as a module named BasculeConfig, so the whole
/// loader is instrumented and ASan sees every read.
private let strategies = ["round-robin", "weighted-round-robin", "least-connections", "random",
                          "power-of-two", "source-hash", "maglev"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigLoader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let result = ConfigLoader.parse(bytes, knownStrategies: strategies)

    // Deterministic: nothing depends on hashing order or other hidden state.
    require(ConfigLoader.parse(bytes, knownStrategies: strategies) == result, "parse is not deterministic")

    switch result {
    case .failure(let failure):
        require(!failure.errors.isEmpty, "a failure without errors")
        for error in failure.errors {
            require(!error.path.isEmpty, "an error without a path: \(error)")
            require(!error.message.isEmpty, "an error without a message at \(error.path)")
        }
        // A syntax error is reported alone, at the path the JSON parser gives.
        if case .failure(let syntax) = JSONParser.parse(bytes) {
            require(failure.errors == [ConfigError(path: syntax.path, message: syntax.description)],
                         "syntax error reported differently")
        }
    case .success(let configuration):
        // What validated is well-formed enough to describe.
        let summary = configuration.summary(resolvedWorkers: 2)
        require(!summary.isEmpty, "empty summary")
        for service in configuration.services {
            require(summary.contains(service.name), "summary omits service \(service.name)")
        }
        require(Set(configuration.services.map(\.name)).count == configuration.services.count,
                     "duplicate service names validated")
        // Layout is not meaning: trailing whitespace and a byte order mark change nothing.
        require(ConfigLoader.parse(bytes + Array(" \n".utf8), knownStrategies: strategies) == result,
                     "trailing whitespace changed the result")
        if !bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            require(ConfigLoader.parse([0xEF, 0xBB, 0xBF] + bytes, knownStrategies: strategies) == result,
                         "a byte order mark changed the result")
        }
    }
    return 0
}

/// precondition() drops its message in -O builds; a finding should say what it found.
private func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
