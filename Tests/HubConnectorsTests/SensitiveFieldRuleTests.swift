import HubConnectors
import HubCore
import Testing

/// A `hub.yaml` that says a field is sensitive must never leave it in clear: a primary key or a
/// cursor is stored in clear by design, and a nested path matched nothing before and was
/// silently stored in clear. Each is refused at registration, naming the field.
@Suite("Sensitive field rules")
struct SensitiveFieldRuleTests {
    static let manifest = """
        version: 6.0.0
        type: DeclarativeSource
        streams:
          - type: DeclarativeStream
            name: contacts
            primary_key: [email]
            retriever:
              type: SimpleRetriever
              requester: {type: HttpRequester, url_base: "https://crm.example.com", path: /contacts}
              record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: [data]}}
            incremental_sync:
              type: DatetimeBasedCursor
              cursor_field: changed_at
              datetime_format: "%Y-%m-%dT%H:%M:%SZ"
              start_datetime: "2023-01-01T00:00:00Z"
        """

    static func refusal(_ sidecar: String) -> String? {
        do {
            _ = try ConnectorDefinition(name: "crm", manifest: manifest, sidecar: sidecar)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("a sensitive primary key, cursor or nested path is refused, naming it")
    func refusals() {
        let key = Self.refusal("streams:\n  contacts:\n    sensitive: [email]\n")
        #expect(key?.contains("email is part of the primary key") == true, "\(key ?? "accepted")")
        let cursor = Self.refusal("streams:\n  contacts:\n    primary_key: [id]\n    sensitive: [changed_at, email]\n")
        #expect(cursor?.contains("changed_at is the cursor field") == true, "\(cursor ?? "accepted")")
        let nested = Self.refusal("streams:\n  contacts:\n    primary_key: [id]\n    sensitive: [address.street]\n")
        #expect(nested?.contains("'address.street' is not a top-level field name") == true, "\(nested ?? "accepted")")
        let nestedIndex = Self.refusal("streams:\n  contacts:\n    primary_key: [id]\n    blind_index: {profile.email: lowercase_trim}\n")
        #expect(nestedIndex?.contains("nested paths are not supported") == true, "\(nestedIndex ?? "accepted")")
        #expect(Self.refusal("streams:\n  contacts:\n    primary_key: [id]\n    sensitive: [email, address]\n") == nil)
    }
}
