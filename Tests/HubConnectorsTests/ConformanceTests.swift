import Foundation
import HubConnectors
import Synchronization
import Testing
import TributaryTestSupport

/// Tributary's engine against Airbyte's CDK 7.39.1: the same manifest, config, catalog and
/// state against the same fake API must give the same records, final state and requests as
/// the golden the CDK produced (recorded with scripts/conformance-record, clock frozen).
@Suite("Airbyte conformance")
struct ConformanceTests {
    static let casesDirectory = Bundle.module.resourceURL!.appendingPathComponent("Conformance")

    static var caseNames: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: casesDirectory.path)) ?? []).sorted()
    }

    /// Runs one case and returns its normalized output, line by line.
    static func run(_ name: String) async throws -> (output: [String], golden: [String]) {
        let directory = casesDirectory.appendingPathComponent(name)
        @Sendable func file(_ name: String) -> String? {
            (try? Data(contentsOf: directory.appendingPathComponent(name))).map { String(decoding: $0, as: UTF8.self) }
        }
        let server = OracleFakeAPI.makeServer()
        let lines = try await server.withRunning { baseURL in
            // The goldens were recorded with the fake server on port 18731; only the url_base changes.
            let manifest = file("manifest.yaml")!.replacingOccurrences(of: "http://127.0.0.1:18731", with: baseURL)
            let source = try DeclarativeSource(yaml: manifest)
            let read = try ConnectorRead(
                source: source,
                config: try PyValue.parseJSON(Array(file("config.json")!.utf8)),
                catalog: try file("catalog.json").map { try PyValue.parseJSON(Array($0.utf8)) },
                state: try file("state.json").map { try PyValue.parseJSON(Array($0.utf8)) }
            )
            let frozen = file("frozen_now.txt")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "2024-06-01T12:00:00Z"
            let environment = EngineEnvironment(now: try EngineEnvironment.frozenClock(frozen), sleep: { _ in })
            let collected = Mutex<[String]>([])
            _ = try await read.run(transport: AsyncHTTPTransport(), environment: environment) { line in
                collected.withLock { $0.append(contentsOf: line.split(separator: "\n").map(String.init)) }
            }
            return collected.withLock { $0 }
        }
        let output = try ConformanceNormalizer.normalize(protocolLines: lines, requests: server.requests)
        let golden = file("golden.jsonl")!.split(separator: "\n").map(String.init)
        return (output, golden)
    }

    @Test("every recorded case matches the CDK's golden output")
    func matchesGoldens() async throws {
        let names = Self.caseNames
        #expect(!names.isEmpty, "no conformance cases found in \(Self.casesDirectory.path)")
        var passed: [String] = []
        var failed: [String] = []
        for name in names {
            let (output, golden) = try await Self.run(name)
            if output == golden {
                passed.append(name)
            } else {
                let index = zip(output, golden).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(output.count, golden.count)
                let ours = index < output.count ? output[index] : "(end of output)"
                let theirs = index < golden.count ? golden[index] : "(end of golden)"
                failed.append("\(name): first difference at line \(index + 1):\n    ours:   \(ours.prefix(300))\n    golden: \(theirs.prefix(300))")
            }
        }
        print("conformance: \(passed.count)/\(names.count) match: \(passed.joined(separator: ", "))")
        for failure in failed { print("conformance FAIL \(failure)") }
        #expect(failed.isEmpty, "\(failed.joined(separator: "\n"))")
    }
}
