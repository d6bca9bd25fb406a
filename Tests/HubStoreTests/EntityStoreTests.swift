import Foundation
import HubCore
import HubCrypto
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

/// Identity resolution on blind indexes, against a real PostgreSQL: linking on each key, a
/// merge by a bridging record, a split when the bridge changes, tenants kept apart, and two
/// concurrent writers of one person ending in one entity.
@Suite("Unified entities")
struct EntityStoreTests {
    let logger = TestDatabase.logger
    static let policy = RecordPolicy(sensitiveFields: ["email", "phone"], blindIndexes: [
        BlindIndexField(name: "email", normalizer: .lowercaseTrim), BlindIndexField(name: "phone", normalizer: .digits),
    ])

    struct World {
        let store: StoreFixture
        let protector: RecordProtector

        /// A source of the fixture's connection with these fields.
        func source(_ id: String, _ fields: [String: String], stream: String = "contacts") throws -> EntityStore.SourceInput {
            let row = EntityReader.rowIdentity(connection: store.connection, stream: stream, externalID: id, model: "person")
            return EntityStore.SourceInput(connection: store.connection, stream: stream, externalID: id, connector: "test-crm",
                                           protected: try protector.protect(fields.mapValues(JSONValue.string), row: row), sourceUpdatedAt: nil)
        }

        func link(_ sources: [EntityStore.SourceInput]) async throws {
            _ = try await store.client.withTransaction(logger: TestDatabase.logger) { database in
                try await EntityStore(logger: TestDatabase.logger).link(on: database, tenant: store.tenant, model: "person", sources: sources)
            }
        }

        /// Each source's entity, by external id.
        func entities() async throws -> [String: UUID] {
            var result: [String: UUID] = [:]
            for try await (id, entity) in try await store.client.query(
                "SELECT external_id, entity_id FROM unified_sources WHERE tenant_id = \(store.tenant.rawValue)", logger: TestDatabase.logger
            ).decode((String, UUID).self) { result[id] = entity }
            return result
        }

        var reader: EntityReader { EntityReader(client: store.client, keyring: store.keyring, logger: TestDatabase.logger) }
    }

    func withWorld(_ body: (World) async throws -> Void) async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        try await TestDatabase.withClient(url) { client in
            let store = try await StoreFixture.make(client: client, kek: try TestKeys.kek())
            let protector = RecordProtector(policy: Self.policy, key: try await store.keyring.encryptionKey(for: store.tenant),
                                            indexKey: try await store.keyring.indexKey(for: store.tenant), table: "unified_sources")
            try await body(World(store: store, protector: protector))
        }
    }

    @Test("records sharing any identity key are one entity; a record sharing none is another")
    func linksOnEachKey() async throws {
        try await withWorld { world in
            try await world.link([try world.source("a", ["email": "Ada@X.com", "phone": "+1 (555) 0100", "name": "Ada"])])
            try await world.link([try world.source("b", ["email": " ada@x.com"])])  // same email, normalized
            try await world.link([try world.source("c", ["phone": "15550100"])])   // same phone, other punctuation
            try await world.link([try world.source("d", ["email": "bob@y.com"])])
            let entities = try await world.entities()
            #expect(Set([entities["a"], entities["b"], entities["c"]]).count == 1)
            #expect(entities["d"] != entities["a"])
            // Found by a key without decrypting, and read back with its sources.
            let found = try await world.reader.entities(tenant: world.store.tenant, model: "person",
                                                        identity: (BlindIndexField(name: "email", normalizer: .lowercaseTrim), "ADA@x.com"),
                                                        after: nil, limit: 10, actor: nil)
            #expect(found.map(\.id) == [entities["a"]!])
            #expect(found.first?.sources.count == 3)
            #expect(found.first?.sources.first?.sensitive == nil, "not revealed without an actor")
            let revealed = try await world.reader.entity(tenant: world.store.tenant, model: "person", id: entities["a"]!, actor: .commandLine(user: "test"))
            let emails = revealed.sources.compactMap { source in source.sensitive.flatMap { $0["email"] } }
            #expect(emails.contains(.string("Ada@X.com")))
        }
    }

    @Test("a record bridging two entities merges them into the older, whose id answers for both; changing the bridge splits them again")
    func mergeAndSplit() async throws {
        try await withWorld { world in
            try await world.link([try world.source("a", ["email": "ann@x.com"])])
            try await world.link([try world.source("b", ["phone": "555 0199"])])
            let before = try await world.entities()
            #expect(before["a"] != before["b"])
            // c has a's email and b's phone: one person.
            try await world.link([try world.source("c", ["email": "ann@x.com", "phone": "5550199"])])
            let merged = try await world.entities()
            #expect(Set(merged.values).count == 1)
            #expect(merged["a"] == before["a"], "the older entity's id survives")
            // b's old id still answers, with the merged entity.
            let viaOld = try await world.reader.entity(tenant: world.store.tenant, model: "person", id: before["b"]!, actor: nil)
            #expect(viaOld.id == before["a"] && viaOld.sources.count == 3)
            // c changes: it no longer carries b's phone. a and c stay together, b is alone again.
            try await world.link([try world.source("c", ["email": "ann@x.com"])])
            let split = try await world.entities()
            #expect(split["a"] == split["c"])
            #expect(split["b"] != split["a"])
            #expect(split["a"] == before["a"], "the larger group keeps the id")
        }
    }

    @Test("one batch that bridges within itself makes one entity, and relinking it unchanged moves nothing")
    func batchBridgesItself() async throws {
        try await withWorld { world in
            try await world.link([try world.source("old", ["phone": "555 0142"])])
            let before = try await world.entities()
            // a and b share nothing; c joins a's email and the stored source's phone.
            let batch = [try world.source("a", ["email": "kim@x.com"]), try world.source("b", ["email": "lee@x.com"]),
                         try world.source("c", ["email": "kim@x.com", "phone": "5550142"])]
            try await world.link(batch)
            let linked = try await world.entities()
            #expect(linked["a"] == linked["c"] && linked["c"] == linked["old"], "\(linked)")
            #expect(linked["old"] == before["old"], "the stored entity is the older: its id survives")
            #expect(linked["b"] != linked["a"])
            let sequence = try await world.store.client.query("SELECT max(change_seq) FROM unified_entities", logger: TestDatabase.logger)
            var last: Int64 = 0
            for try await value in sequence.decode(Int64.self) { last = value }
            try await world.link(batch)
            #expect(try await world.entities() == linked)
            // Entities that existed only within the batch were never written.
            var rows = 0
            for try await count in try await world.store.client.query("SELECT count(*)::int FROM unified_entities WHERE merged_into IS NULL",
                                                                     logger: TestDatabase.logger).decode(Int.self) { rows = count }
            #expect(rows == 2)
            #expect(last > 0)
        }
    }

    @Test("deleting the bridging record splits its entity again; deleting the last source leaves nothing to read")
    func deletedBridgeSplits() async throws {
        try await withWorld { world in
            try await world.link([try world.source("a", ["email": "ann@x.com"]), try world.source("b", ["phone": "555 0199"]),
                                  try world.source("c", ["email": "ann@x.com", "phone": "5550199"])])
            let merged = try await world.entities()
            #expect(Set(merged.values).count == 1)
            _ = try await world.store.client.withTransaction(logger: TestDatabase.logger) { database in
                try await EntityStore(logger: TestDatabase.logger).unlink(on: database, tenant: world.store.tenant, connection: world.store.connection,
                                                                         stream: "contacts", externalIDs: ["c"])
            }
            let split = try await world.entities()
            #expect(split["c"] == nil && split["a"] != nil && split["b"] != nil && split["a"] != split["b"], "\(split)")
            #expect([split["a"], split["b"]].contains(merged["a"]), "one group keeps the id")
            _ = try await world.store.client.withTransaction(logger: TestDatabase.logger) { database in
                try await EntityStore(logger: TestDatabase.logger).unlink(on: database, tenant: world.store.tenant, connection: world.store.connection,
                                                                         stream: "contacts", externalIDs: ["b"])
            }
            await #expect(throws: HubError.self) {
                _ = try await world.reader.entity(tenant: world.store.tenant, model: "person", id: split["b"]!, actor: nil)
            }
        }
    }

    @Test("two tenants with the same email never share an entity")
    func tenantsStayApart() async throws {
        try await withWorld { world in
            try await world.link([try world.source("a", ["email": "same@x.com"])])
            let other = try await StoreFixture.make(client: world.store.client, kek: try TestKeys.kek())
            let otherWorld = World(store: other, protector: RecordProtector(
                policy: Self.policy, key: try await other.keyring.encryptionKey(for: other.tenant),
                indexKey: try await other.keyring.indexKey(for: other.tenant), table: "unified_sources"))
            try await otherWorld.link([try otherWorld.source("a", ["email": "same@x.com"])])
            let mine = try await world.entities(), theirs = try await otherWorld.entities()
            #expect(mine["a"] != nil && theirs["a"] != nil && mine["a"] != theirs["a"])
            // Tenant B reads nothing of A's, even by A's entity id.
            await #expect(throws: HubError.self) {
                _ = try await otherWorld.reader.entity(tenant: other.tenant, model: "person", id: mine["a"]!, actor: nil)
            }
        }
    }

    @Test("two writers of one new person at once end in one entity")
    func concurrentWritersMeet() async throws {
        try await withWorld { world in
            let first = try world.source("a", ["email": "race@x.com"]), second = try world.source("b", ["email": "RACE@x.com"])
            let client = world.store.client, tenant = world.store.tenant
            // The first transaction links and then holds its commit; the second starts meanwhile.
            async let one: Void = client.withTransaction(logger: TestDatabase.logger) { database in
                try await EntityStore(logger: TestDatabase.logger).link(on: database, tenant: tenant, model: "person", sources: [first])
                try await database.query("SELECT pg_sleep(1)", logger: TestDatabase.logger)
            }
            try await Task.sleep(for: .milliseconds(300))
            try await world.link([second])
            try await one
            let entities = try await world.entities()
            #expect(entities.count == 2 && Set(entities.values).count == 1, "\(entities)")
        }
    }

    @Test("a batch of a thousand two-key sources holds one advisory lock, not two thousand slots of the shared lock table")
    func linkingHoldsOneLock() async throws {
        try await withWorld { world in
            let sources = try (0..<1000).map { try world.source("p\($0)", ["email": "p\($0)@x.com", "phone": "+1 555 \(100_000 + $0)"]) }
            let tenant = world.store.tenant
            let held = try await world.store.client.withTransaction(logger: TestDatabase.logger) { database -> Int in
                try await EntityStore(logger: TestDatabase.logger).link(on: database, tenant: tenant, model: "person", sources: sources)
                for try await count in try await database.query(
                    "SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()", logger: TestDatabase.logger
                ).decode(Int.self) { return count }
                return -1
            }
            #expect(held == 1, "advisory locks held by one linking transaction: \(held)")
            #expect(try await world.entities().count == 1000)
        }
    }
}
