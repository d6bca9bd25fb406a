import Foundation
import HubConnectors
import HubCore
import HubCrypto
import Testing

/// Unified model definitions: the bundled ones load, and a bad one names every problem.
@Suite("Unified models")
struct UnifiedModelTests {
    static let modelsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models")

    @Test("the bundled person and company models load with their keys and rules")
    func bundledModels() throws {
        let person = try UnifiedModel(yaml: String(contentsOf: Self.modelsFolder.appendingPathComponent("person.yaml"), encoding: .utf8))
        #expect(person.name == "person")
        #expect(person.identity == [BlindIndexField(name: "email", normalizer: .lowercaseTrim), BlindIndexField(name: "phone", normalizer: .digits)])
        #expect(person.sensitive == ["email", "phone", "birthday"])
        #expect(person.survivorship(of: "full_name") == .priority(["crm", "hubspot", "salesforce"]))
        #expect(person.survivorship(of: "title") == .mostRecent)
        #expect(person.fields.first == "email")
        let company = try UnifiedModel(yaml: String(contentsOf: Self.modelsFolder.appendingPathComponent("company.yaml"), encoding: .utf8))
        #expect(company.identity == [BlindIndexField(name: "domain", normalizer: .domain)])
    }

    @Test("a bad model lists every problem with its place")
    func badModel() throws {
        let yaml = """
            name: person
            colour: blue
            schema:
              type: object
              properties:
                email: {type: string}
                name: {type: string}
            sensitive: [email, ssn]
            identity:
              email: soundex
              phone: phone_digits
            survivorship:
              name: {priority: []}
              email: newest
            """
        do {
            _ = try UnifiedModel(yaml: yaml)
            Issue.record("a bad model loaded")
        } catch let problems as ManifestProblems {
            let text = problems.description
            #expect(text.hasPrefix("the model has 6 problems"), "\(text)")
            for expected in ["colour: unknown setting", "sensitive[1]: 'ssn' is not a property", "identity.email: expected a normalization",
                             "identity.phone: 'phone' is not a property", "survivorship.name.priority: expected a non-empty list",
                             "survivorship.email: expected most_recent"] {
                #expect(text.contains(expected), "missing \(expected) in \(text)")
            }
        }
        #expect(throws: ManifestError.self) { try UnifiedModel(yaml: "name: Person!\nschema: {type: object, properties: {a: {type: string}}}") }
        #expect(throws: ManifestError.self) { try UnifiedModel(yaml: "name: empty\nschema: {type: object, properties: {}}") }
    }

    @Test("domains compare however they were written")
    func domainNormalization() {
        let domain = BlindIndexNormalizer.domain
        for written in ["acme.com", "https://www.Acme.com/about?x=1", " ACME.COM. ", "http://user@acme.com:8080", "www.acme.com#top"] {
            #expect(domain.normalize(written) == "acme.com", "\(written)")
        }
        #expect(domain.normalize("shop.acme.com") == "shop.acme.com")
    }
}

/// `hub.yaml` mappings of a stream into a model.
@Suite("Unified mappings")
struct UnifiedMappingTests {
    static let manifest = """
        version: 6.0.0
        type: DeclarativeSource
        streams:
          - type: DeclarativeStream
            name: contacts
            primary_key: [id]
            retriever:
              type: SimpleRetriever
              requester: {type: HttpRequester, url_base: "https://api.example.com", path: /contacts}
              record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: [data]}}
        """

    static func person() throws -> UnifiedModel {
        try UnifiedModel(yaml: "name: person\nschema: {type: object, properties: {email: {type: string}, full_name: {type: string}, phone: {type: string}}}\n")
    }

    @Test("a mapping evaluates each field from the record and config; empty values are left out")
    func evaluates() throws {
        let sidecar = """
            streams:
              contacts:
                unified:
                  person:
                    email: "{{ record.email | lower }}"
                    full_name: "{{ record.first ~ ' ' ~ record.last }}"
                    phone: "{{ record.get('phone') }}"
            """
        let definition = try ConnectorDefinition(name: "crm", manifest: Self.manifest, sidecar: sidecar)
        #expect(definition.mappedModels == ["person"])
        try definition.checkMappings(against: ["person": try Self.person()])
        let record = try PyValue.parseJSON(Array(#"{"id": 1, "email": "Ada@X.com", "first": "Ada", "last": "Lovelace"}"#.utf8))
        let fields = try #require(try definition.unifiedFields(stream: "contacts", model: "person", record: record, config: .dict(PyDict())))
        #expect(fields["email"] == .string("ada@x.com"))
        #expect(fields["full_name"] == .string("Ada Lovelace"))
        #expect(fields["phone"] == nil, "a field the record lacks is absent, not None")
        #expect(try definition.unifiedFields(stream: "contacts", model: "company", record: record, config: .dict(PyDict())) == nil)
    }

    @Test("mapping errors name the connector, stream, field and expression")
    func errorsNameTheirPlace() throws {
        // A bad expression is refused at registration.
        do {
            _ = try ConnectorDefinition(name: "crm", manifest: Self.manifest,
                                        sidecar: "streams:\n  contacts:\n    unified:\n      person:\n        email: \"{{ record.email \"\n")
            Issue.record("a bad expression was accepted")
        } catch let error as HubError {
            #expect(error.message.contains("streams.contacts.unified.person.email"), "\(error.message)")
        }
        // A field the model lacks, or a model nobody registered.
        let sidecar = "streams:\n  contacts:\n    unified:\n      person:\n        fullname: \"{{ record.name }}\"\n      company:\n        name: \"{{ record.org }}\"\n"
        let definition = try ConnectorDefinition(name: "crm", manifest: Self.manifest, sidecar: sidecar)
        do {
            try definition.checkMappings(against: ["person": try Self.person()])
            Issue.record("a mapping into a missing field was accepted")
        } catch let error as HubError {
            #expect(error.message.contains("hub.yaml streams.contacts.unified.person.fullname: model person has no field 'fullname'"), "\(error.message)")
            #expect(error.message.contains("hub.yaml streams.contacts.unified.company: no model named company is registered"), "\(error.message)")
        }
        // An expression that fails on a record says where and what.
        let failing = try ConnectorDefinition(name: "crm", manifest: Self.manifest,
                                              sidecar: "streams:\n  contacts:\n    unified:\n      person:\n        email: \"{{ record.email + 1 }}\"\n")
        let record = try PyValue.parseJSON(Array(#"{"id": 1, "email": [1]}"#.utf8))
        do {
            _ = try failing.unifiedFields(stream: "contacts", model: "person", record: record, config: .dict(PyDict()))
            Issue.record("a failing expression gave a value")
        } catch let error as HubError {
            #expect(error.message.contains("connector crm hub.yaml streams.contacts.unified.person.email"), "\(error.message)")
            #expect(error.message.contains("record.email + 1"), "\(error.message)")
        }
    }
}

/// Survivorship: which source's value a field takes.
@Suite("Survivorship")
struct SurvivorshipTests {
    @Test("the most recent change wins; a priority list wins over recency; a source without the field is skipped")
    func rules() throws {
        let model = try UnifiedModel(yaml: """
            name: person
            schema: {type: object, properties: {email: {type: string}, full_name: {type: string}, title: {type: string}}}
            survivorship:
              full_name: {priority: [crm, hubspot]}
            """)
        let old = Date(timeIntervalSince1970: 1_000), new = Date(timeIntervalSince1970: 2_000)
        let sources = [
            UnifiedModel.SourceFields(connector: "billing", changedAt: new, fields: ["full_name": .string("A. Lovelace"), "title": .string("Countess")]),
            UnifiedModel.SourceFields(connector: "crm", changedAt: old, fields: ["full_name": .string("Ada Lovelace"), "title": .null]),
            UnifiedModel.SourceFields(connector: "support", changedAt: old, fields: ["email": .string("ada@x.com"), "title": .string("Analyst")]),
        ]
        let fields = model.survivingFields(sources)
        #expect(fields["full_name"]?.value == .string("Ada Lovelace") && fields["full_name"]?.source == 1, "the crm is first in priority")
        #expect(fields["title"]?.value == .string("Countess") && fields["title"]?.source == 0, "most recent; a null is no value")
        #expect(fields["email"]?.source == 2, "the only source with it")
        // With no listed connector holding a value, recency decides.
        let fallback = model.survivingFields([sources[0], sources[2]])
        #expect(fallback["full_name"]?.value == .string("A. Lovelace"))
    }
}
