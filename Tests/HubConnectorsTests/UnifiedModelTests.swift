import Foundation
import HubConnectors
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
