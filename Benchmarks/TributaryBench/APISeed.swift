import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubDatabase
import HubStore
import Logging
import PostgresNIO

/// Fills a store for `scripts/bench api`: one tenant, one connection, `records` contacts with
/// two sensitive fields (email, phone) sealed and the email blind-indexed, written through the
/// real RecordWriter; `person` entities linked from the first of them; two API keys (with and
/// without records:read-sensitive); and wrk Lua files of page cursors spread over the whole
/// stream and of emails to look up.
enum APISeed {
    static let manifest = """
        version: 6.0.0
        type: DeclarativeSource
        streams:
          - type: DeclarativeStream
            name: contacts
            primary_key: [id]
            retriever:
              type: SimpleRetriever
              requester: {type: HttpRequester, url_base: "https://crm.example.com", path: /contacts}
              record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: [data]}}
        """
    static let sidecar = """
        streams:
          contacts:
            sensitive: [email, phone]
            blind_index:
              email: lowercase_trim
        """

    static func run(url: DatabaseURL, keyFile: String, records: Int, output: String, cursorsFile: String,
                    unified: Int, emailsFile: String) async throws {
        var logger = Logger(label: "bench-api")
        logger.logLevel = .warning
        try await PostgresClient.withRunning(url, maximumConnections: 6, logger: logger) { client in
            let keyring = Keyring(kek: try LocalKeyEncryptionKey(contentsOfFile: keyFile),
                                  repository: PostgresDataKeyRepository(client: client, logger: logger))
            let tenant = try await TenantStore(client: client, logger: logger).create(name: "bench")
            let (version, _) = try await ConnectorStore(client: client, logger: logger).register(name: "bench-crm", manifest: manifest, sidecar: sidecar)
            let connection = try await ConnectionStore(client: client, keyring: keyring, logger: logger).create(
                tenant: tenant.id, connector: "bench-crm", connectorVersion: version, credentials: Secret([]))
            let keys = ApiKeyStore(client: client, logger: logger)
            let plain = try await keys.create(tenant: tenant.id, name: "bench-plain", scopes: [.recordsRead]).key.revealed
            let sensitive = try await keys.create(tenant: tenant.id, name: "bench-sensitive",
                                                  scopes: [.recordsRead, .recordsReadSensitive]).key.revealed
            let definition = try ConnectorDefinition(name: "bench-crm", manifest: manifest, sidecar: sidecar)
            let writer = RecordWriter(client: client, keyring: keyring, logger: logger)
            let policy = definition.recordPolicy("contacts")
            let batch = 5000
            let start = ContinuousClock.now
            // Two writers at once: one sealing while the other's batch is in PostgreSQL.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<2 {
                    group.addTask {
                        var offset = lane * batch
                        while offset < records {
                            let inputs = (offset..<min(offset + batch, records)).map { index in
                                RecordWriter.Input(externalID: "c\(index)", fields: [
                                    "id": .string("c\(index)"), "name": .string("Contact \(index)"),
                                    "email": .string("person\(index)@example.com"), "phone": .string("+1 555 \(1_000_000 + index)"),
                                    "company": .string("Company \(index % 997)"), "title": .string(["Engineer", "Designer", "Founder"][index % 3]),
                                    "updated_at": .string("2026-01-01T00:00:00Z"),
                                ])
                            }
                            try await writer.upsert(tenant: tenant.id, connection: connection, stream: "contacts", records: inputs, policy: policy)
                            offset += 2 * batch
                            if offset % 100_000 < 2 * batch, lane == 0 {
                                let seconds = (ContinuousClock.now - start).inSeconds
                                FileHandle.standardError.write(Data("  seeded ~\(min(offset, records)) records (\(Int(Double(offset) / seconds)) rec/s)\n".utf8))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            // As autovacuum would by now: merges the GIN pending list that every lookup otherwise scans.
            try await client.query("VACUUM (ANALYZE) records", logger: logger)
            try await seedUnified(client: client, keyring: keyring, tenant: tenant.id, connection: connection, count: min(unified, records),
                                  emailsFile: emailsFile, logger: logger)
            var bounds: (Int64, Int64) = (0, 0)
            for try await row in try await client.query(
                "SELECT min(change_seq), max(change_seq) FROM records WHERE connection_id = \(connection)", logger: logger
            ).decode((Int64, Int64).self) { bounds = row }
            let summary = JSONValue.object([
                "tenant": .string(tenant.id.rawValue.uuidString.lowercased()), "connection": .string(connection.uuidString.lowercased()),
                "plain_key": .string(plain), "sensitive_key": .string(sensitive),
                "min_seq": .number(Double(bounds.0)), "max_seq": .number(Double(bounds.1)),
                "seed_seconds": .number((ContinuousClock.now - start).inSeconds),
            ])
            _ = FileManager.default.createFile(atPath: output, contents: Data(summary.canonicalJSON.utf8), attributes: [.posixPermissions: 0o600])
            // 4,096 cursors at random places in the stream (fixed seed), as `cursors = {...}` for wrk's Lua.
            var generator = SplitMix64(seed: 42)
            let span = max(bounds.1 - bounds.0 - 200, 1)
            let cursors = (0..<4096).map { _ in
                let sequence = bounds.0 + Int64(generator.next() % UInt64(span))
                return "\"" + Data("v1:\(sequence)".utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                    .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "") + "\""
            }
            try "cursors = {\(cursors.joined(separator: ","))}\n".write(toFile: cursorsFile, atomically: true, encoding: .utf8)
        }
    }
}
