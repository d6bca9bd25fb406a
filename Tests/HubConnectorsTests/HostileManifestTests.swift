import HubConnectors
import Testing

/// Manifests written to hurt the process that loads them: each is refused with an error that
/// says why, quickly and without exhausting memory.
@Suite("Hostile manifests")
struct HostileManifestTests {
    func refusal(_ yaml: String) -> String? {
        do {
            _ = try DeclarativeSource(yaml: yaml)
            return nil
        } catch {
            return String(describing: error)
        }
    }

    @Test("a billion laughs by $ref is refused, not expanded")
    func referenceBomb() throws {
        // Eleven levels of ten references each: 10^11 nodes once expanded. Before the node
        // budget, loading this ran until the process was killed.
        var lines = ["version: 1.0.0", "definitions:", "  l0: \"abcdefghij\""]
        for level in 1...11 {
            lines.append("  l\(level): [" + Array(repeating: "\"#/definitions/l\(level - 1)\"", count: 10).joined(separator: ", ") + "]")
        }
        lines.append("streams: \"#/definitions/l11\"")
        let message = try #require(refusal(lines.joined(separator: "\n")))
        #expect(message.contains("more than 2000000 nodes through its references"), "\(message)")
    }

    @Test("a manifest as large as Google Ads' (559,298 nodes once resolved) loads, and quickly")
    func largeManifestLoads() throws {
        // 250 definitions, each a reference to a 2,402-node mapping with one key overridden:
        // about 600,000 nodes resolved, which the first node budget (500,000, counting the
        // overridden parts too) refused.
        var lines = ["version: 1.0.0", "definitions:", "  base:", "    name: base", "    blob:"]
        lines += Array(repeating: "      - {a: 1, b: 2}", count: 800)
        for index in 0..<250 { lines.append("  copy\(index): {$ref: \"#/definitions/base\", name: copy\(index)}") }
        lines += ["streams:", "  - type: DeclarativeStream", "    name: s", "    primary_key: id",
                  "    retriever:", "      type: SimpleRetriever",
                  "      requester: {type: HttpRequester, url_base: \"https://api.example.com\", path: /s}",
                  "      record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: []}}"]
        let start = ContinuousClock.now
        #expect(refusal(lines.joined(separator: "\n")) == nil)
        #expect(ContinuousClock.now - start < .seconds(60), "loading took \(ContinuousClock.now - start)")
    }

    @Test("a billion laughs by YAML aliases is refused, not expanded")
    func aliasBomb() throws {
        // Each line doubles the one before: 2^40 nodes once Yams has copied every alias.
        var lines = ["version: 1.0.0", "definitions:", "  l0: &l0 [abcdefghij, abcdefghij]"]
        for level in 1...40 { lines.append("  l\(level): &l\(level) [*l\(level - 1), *l\(level - 1)]") }
        lines.append("streams: []")
        let message = try #require(refusal(lines.joined(separator: "\n")))
        #expect(message.contains("expands to more than 2000000 nodes"), "\(message)")
        // Aliases within the budget load as PyYAML loads them: as copies.
        #expect(refusal("version: 1.0.0\ndefinitions:\n  a: &a [x]\n  b: *a\nstreams: []\n")?.contains("no streams") == true)
    }

    @Test("deeply nested YAML is an error, not a stack overflow")
    func deepNesting() throws {
        let message = try #require(refusal("version: 1.0.0\nstreams: " + String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000)))
        #expect(!message.isEmpty)
    }

    @Test("an expression bomb in a manifest is refused at registration with its path")
    func expressionBomb() throws {
        let yaml = """
            version: 1.0.0
            streams:
              - type: DeclarativeStream
                name: items
                primary_key: id
                schema_loader: {type: InlineSchemaLoader, schema: {type: object}}
                retriever:
                  type: SimpleRetriever
                  requester:
                    type: HttpRequester
                    url_base: "https://api.example.com"
                    path: "/items/{{ \(String(repeating: "(", count: 500))1\(String(repeating: ")", count: 500)) }}"
                  record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: []}}
            check: {type: CheckStream, stream_names: [items]}
            """
        let message = try #require(refusal(yaml))
        #expect(message.contains("nests brackets or operators more than 64 deep"), "\(message)")
        #expect(message.contains("path"), "\(message)")
    }
}
