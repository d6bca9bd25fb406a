import Foundation
import HubCore
import HubCrypto
import HubStore
import Logging
import PostgresNIO

extension APISeed {
    static let personModel = """
        name: person
        schema: {type: object, properties: {email: {type: string}, phone: {type: string}, full_name: {type: string}}}
        sensitive: [email, phone]
        identity: {email: email, phone: phone_digits}
        """

    /// Links the first `count` contacts as `person` entities, as a mapped sync would (email and
    /// phone sealed and blind-indexed), and writes `emails = {...}` for wrk's Lua: 4,096 of
    /// their emails, each the key of one entity and of one record.
    static func seedUnified(client: PostgresClient, keyring: Keyring, tenant: TenantID, connection: UUID, count: Int,
                            emailsFile: String, logger: Logger) async throws {
        _ = try await ModelStore(client: client, logger: logger).register(name: "person", definition: personModel)
        let protector = RecordProtector(
            policy: RecordPolicy(sensitiveFields: ["email", "phone"], blindIndexes: [
                BlindIndexField(name: "email", normalizer: .lowercaseTrim), BlindIndexField(name: "phone", normalizer: .digits),
            ]),
            key: try await keyring.encryptionKey(for: tenant), indexKey: try await keyring.indexKey(for: tenant), table: "unified_sources"
        )
        let start = ContinuousClock.now
        let entities = EntityStore(logger: logger)
        var offset = 0
        var analyzeAt = 1_000
        while offset < count {
            // As a sync does: without statistics the planner scans the sources whole on each batch.
            if offset >= analyzeAt {
                try await entities.analyze(client: client)
                analyzeAt *= 2
            }
            let sources = try (offset..<min(offset + 1000, count)).map { index in
                let externalID = "c\(index)"
                let row = EntityReader.rowIdentity(connection: connection, stream: "contacts", externalID: externalID, model: "person")
                return EntityStore.SourceInput(
                    connection: connection, stream: "contacts", externalID: externalID, connector: "bench-crm",
                    protected: try protector.protect([
                        "email": .string("person\(index)@example.com"), "phone": .string("+1 555 \(1_000_000 + index)"),
                        "full_name": .string("Contact \(index)"),
                    ], row: row),
                    sourceUpdatedAt: nil
                )
            }
            _ = try await client.withTransaction(logger: logger) { database in
                try await entities.link(on: database, tenant: tenant, model: "person", sources: sources)
            }
            offset += sources.count
            if offset % 20_000 == 0 || offset == count {
                FileHandle.standardError.write(Data("  linked \(offset) person entities (\(Int(Double(offset) / (ContinuousClock.now - start).inSeconds)) /s)\n".utf8))
            }
        }
        try await client.query("ANALYZE unified_sources", logger: logger)
        try await client.query("ANALYZE unified_entities", logger: logger)
        var generator = SplitMix64(seed: 7)
        let emails = (0..<4096).map { _ in "\"person\(generator.next() % UInt64(max(count, 1)))@example.com\"" }
        try "emails = {\(emails.joined(separator: ","))}\n".write(toFile: emailsFile, atomically: true, encoding: .utf8)
    }
}
