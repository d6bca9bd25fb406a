import Crypto
import Foundation
import HubConnectors
import HubCore
import HubCrypto
import HubDatabase
import HubQueue
import HubStore
import HubSync
import Logging
import PostgresNIO
import Synchronization

/// `scripts/bench ingest`: 200,000 records from a fast local fake API through a cursor-paginated
/// manifest into PostgreSQL (2 fields sealed, 1 blind-indexed), end to end through the queue,
/// beside the raw parallel upsert of the same rows into the same table (no HTTP, no
/// encryption) measured in the same run.
enum IngestBenchmark {
    static let logger: Logger = {
        var logger = Logger(label: "bench.ingest")
        logger.logLevel = .warning
        return logger
    }()

    static func run(url: DatabaseURL, apiBase: String, jsonl: String, manifestDirectory: String, expected: Int,
                    vault: DatabaseURL? = nil) async throws {
        try await PostgresClient.withRunning(url, maximumConnections: 8, logger: logger) { client in
            // Where each record's CPU goes (database and worker), beside the wall-clock rate.
            let cpu = try await ProcessCPU.locate(client: client, logger: logger)
            // BENCH_VAULT_DATABASE_URL: the sync alone, with keys and credentials in that vault
            // database (issue 19's figure: at most 10% slower than one database).
            if let vault {
                let (split, spent) = try await CPUSpent.measure(cpu, records: \.records) {
                    try await PostgresClient.withRunning(vault, maximumConnections: 4, logger: logger) { vaultClient in
                        try await tributary(client: client, vault: vaultClient, apiBase: apiBase, manifestDirectory: manifestDirectory,
                                            expected: expected)
                    }
                }
                emit(["tool": "tributary-split", "what": "ingest", "records": split.records, "seconds": split.seconds,
                      "records_per_s": Double(split.records) / split.seconds], spent)
                return
            }
            // BENCH_ONLY=tributary skips the comparison rows (for profiling the sync path alone);
            // BENCH_ONLY=extract runs the extraction alone, five times over.
            let only = ProcessInfo.processInfo.environment["BENCH_ONLY"]
            if only == "extract" {
                for _ in 0..<5 {
                    let extract = try await extractOnly(apiBase: apiBase, manifestDirectory: manifestDirectory, expected: expected)
                    emit(["tool": "tributary-extract", "what": "extract", "records": extract.records, "seconds": extract.seconds,
                          "records_per_s": Double(extract.records) / extract.seconds])
                }
                return
            }
            if only == nil {
                let (raw, spent) = try await CPUSpent.measure(cpu, records: \.records) { try await rawUpsert(client: client, jsonl: jsonl) }
                emit(["tool": "raw-upsert", "what": "ingest", "records": raw.records, "seconds": raw.seconds,
                      "records_per_s": Double(raw.records) / raw.seconds, "connections": 4], spent)
                let extract = try await extractOnly(apiBase: apiBase, manifestDirectory: manifestDirectory, expected: expected)
                emit(["tool": "tributary-extract", "what": "extract", "records": extract.records, "seconds": extract.seconds,
                      "records_per_s": Double(extract.records) / extract.seconds])
            }
            if only != "unified" {
                let (ours, spent) = try await CPUSpent.measure(cpu, records: \.records) {
                    try await tributary(client: client, apiBase: apiBase, manifestDirectory: manifestDirectory, expected: expected)
                }
                emit(["tool": "tributary", "what": "ingest", "records": ours.records, "seconds": ours.seconds,
                      "records_per_s": Double(ours.records) / ours.seconds], spent)
            }
            // The same sync with the stream mapped into the `person` model: every record sealed and
            // linked a second time, as a unified source (issue 18's figure: at most 25% slower).
            if only == nil || only == "unified" {
                let (unified, spent) = try await CPUSpent.measure(cpu, records: \.records) {
                    try await tributary(client: client, apiBase: apiBase, manifestDirectory: manifestDirectory, expected: expected,
                                        unified: true)
                }
                emit(["tool": "tributary-unified", "what": "ingest", "records": unified.records, "seconds": unified.seconds,
                      "records_per_s": Double(unified.records) / unified.seconds], spent)
            }
        }
    }

    static func emit(_ fields: [String: Any], _ spent: CPUSpent? = nil) {
        let fields = fields.merging(spent?.fields ?? [:]) { first, _ in first }
        guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        print(String(decoding: data, as: UTF8.self))
    }

    /// The fake API serves on loopback, which the egress policy refuses unless an operator
    /// allows it (`TRIBUTARY_EGRESS_ALLOW`): the benchmark allows it the same way.
    static func loopbackTransport() throws -> AsyncHTTPTransport {
        AsyncHTTPTransport(egress: EgressPolicy(allowed: try EgressPolicy.parseAllowList("127.0.0.0/8,::1/128")))
    }

    /// The database-side limit: the same rows upserted into `records` over 4 connections in
    /// batches of 1,000 (unnest), content hash included, nothing sealed or indexed.
    static func rawUpsert(client: PostgresClient, jsonl: String) async throws -> (records: Int, seconds: Double) {
        let text = try String(contentsOfFile: jsonl, encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        let ids = lines.map { line -> String in
            let start = line.range(of: "\"id\":")!.upperBound
            return String(line[start...].prefix { $0.isNumber })
        }
        let tenant = try await TenantStore(client: client, logger: logger).create(name: "raw upsert")
        let connection = try await insertConnection(client: client, tenant: tenant.id)
        let batches = stride(from: 0, to: lines.count, by: 1000).map { $0..<min($0 + 1000, lines.count) }
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for (index, range) in batches.enumerated() where index % 4 == worker {
                        let data = Array(lines[range]), keys = Array(ids[range])
                        let hashes = data.map { hex(Array(SHA256.hash(data: Data($0.utf8)))) }
                        try await client.query(
                            """
                            INSERT INTO records (tenant_id, connection_id, stream, external_id, data, content_hash)
                            SELECT \(tenant.id.rawValue), \(connection), 'records', r.id, r.data::jsonb, decode(r.hash, 'hex')
                            FROM unnest(\(keys)::text[], \(data)::text[], \(hashes)::text[]) AS r(id, data, hash)
                            ON CONFLICT (connection_id, stream, external_id) DO UPDATE SET data = EXCLUDED.data,
                                content_hash = EXCLUDED.content_hash, change_seq = nextval('records_change_seq')
                            WHERE records.content_hash <> EXCLUDED.content_hash
                            """,
                            logger: logger
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        return (lines.count, (ContinuousClock.now - start).inSeconds)
    }

    static func insertConnection(client: PostgresClient, tenant: TenantID) async throws -> UUID {
        try await client.query(
            """
            INSERT INTO connectors (name, version, manifest, sidecar, checksum) VALUES ('raw-bench', 1, '', '', '')
            ON CONFLICT DO NOTHING
            """,
            logger: logger
        )
        let id = UUID()
        try await client.query(
            "INSERT INTO connections (id, tenant_id, connector_name, connector_version) VALUES (\(id), \(tenant.rawValue), 'raw-bench', 1)",
            logger: logger
        )
        return id
    }

    /// What the CDK peer does: read the API through the manifest and write protocol lines
    /// (to a counter here), no database.
    static func extractOnly(apiBase: String, manifestDirectory: String, expected: Int) async throws -> (records: Int, seconds: Double) {
        let manifest = try String(contentsOfFile: manifestDirectory + "/manifest.yaml", encoding: .utf8)
        var config = PyDict()
        config["base_url"] = .string(apiBase)
        let read = try ConnectorRead(source: try DeclarativeSource(yaml: manifest), config: .dict(config))
        let lines = Counter()
        let start = ContinuousClock.now
        _ = try await read.run(transport: try loopbackTransport(), environment: EngineEnvironment()) { text in
            lines.add(recordLines(in: text))
        }
        let seconds = (ContinuousClock.now - start).inSeconds
        guard lines.value == expected else { throw HubError(.internalError, "extracted \(lines.value) records, expected \(expected)") }
        return (lines.value, seconds)
    }

    /// Lines that are RECORD messages, counted on the bytes: splitting into Strings cost more
    /// than producing the lines did, and the CDK's row counts its lines as cheaply.
    static func recordLines(in text: String) -> Int {
        let marker = Array(#"{"type":"RECORD""#.utf8)
        var text = text
        return text.withUTF8 { bytes in
            var count = 0
            var lineStart = 0
            while lineStart + marker.count <= bytes.count {
                if (0..<marker.count).allSatisfy({ bytes[lineStart + $0] == marker[$0] }) { count += 1 }
                guard let newline = bytes[lineStart...].firstIndex(of: 0x0A) else { break }
                lineStart = newline + 1
            }
            return count
        }
    }

    final class Counter: Sendable {
        private let count = Mutex(0)
        func add(_ value: Int) { count.withLock { $0 += value } }
        var value: Int { count.withLock { $0 } }
    }

    /// The whole path: a sync job claimed by a worker pool, pages fetched, records sealed and
    /// indexed, batches upserted with their state.
    /// The `person` model and the mapping the unified run adds to the connector's `hub.yaml`.
    static let personModel = """
        name: person
        schema: {type: object, properties: {email: {type: string}, full_name: {type: string}, company: {type: string}}}
        sensitive: [email, full_name]
        identity: {email: email}
        """
    static let personMapping = """

            unified:
              person:
                email: "{{ record.email }}"
                full_name: "{{ record.name }}"
                company: "{{ record.company }}"
        """

    static func tributary(client: PostgresClient, vault: PostgresClient? = nil, apiBase: String, manifestDirectory: String, expected: Int,
                          unified: Bool = false) async throws -> (records: Int, seconds: Double) {
        let kek = try LocalKeyEncryptionKey(base64: LocalKeyEncryptionKey.generateBase64(), source: "bench")
        let keyring = Keyring(kek: kek, repository: PostgresDataKeyRepository(client: client, vault: vault, logger: logger))
        let tenant = try await TenantStore(client: client, logger: logger).create(name: "ingest bench")
        let manifest = try String(contentsOfFile: manifestDirectory + "/manifest.yaml", encoding: .utf8)
        var sidecar = try String(contentsOfFile: manifestDirectory + "/hub.yaml", encoding: .utf8)
        var name = "ingest-bench"
        if unified {
            _ = try await ModelStore(client: client, logger: logger).register(name: "person", definition: personModel)
            sidecar = sidecar.trimmingCharacters(in: .newlines) + personMapping
            name = "ingest-bench-unified"
        }
        let (version, _) = try await ConnectorStore(client: client, logger: logger).register(name: name, manifest: manifest, sidecar: sidecar)
        let connection = try await ConnectionStore(client: client, keyring: keyring, logger: logger).create(
            tenant: tenant.id, connector: name, connectorVersion: version, config: ["base_url": .string(apiBase)], credentials: Secret([])
        )
        // Warm the tenant's keys so key creation is not timed.
        _ = try await keyring.encryptionKey(for: tenant.id)
        _ = try await keyring.indexKey(for: tenant.id)
        let handlers = SyncJobs.handlers(client: client, keyring: keyring, logger: logger, transport: try loopbackTransport())
        let worker = WorkerPool(
            client: client,
            configuration: WorkerConfiguration(queues: [.init(name: SyncJobs.queue, slots: 2, grouped: true)], pollInterval: .milliseconds(50)),
            handlers: handlers, logger: logger
        )
        let runStore = RunStore(client: client, logger: logger)
        return try await withThrowingTaskGroup(of: (Int, Double)?.self) { group in
            group.addTask { try await worker.run(); return nil }
            group.addTask {
                let start = ContinuousClock.now
                let runs = try await SyncService(client: client, logger: logger).start(connection: connection).map(\.run)
                while true {
                    let current = try await runStore.runs(ids: runs)
                    if let run = current.first, [.succeeded, .failed].contains(run.status) {
                        guard run.status == .succeeded else { throw HubError(.internalError, "the sync failed: \(run.error ?? "")") }
                        let seconds = (ContinuousClock.now - start).inSeconds
                        guard run.recordsRead == expected else {
                            throw HubError(.internalError, "read \(run.recordsRead) records, expected \(expected)")
                        }
                        return (Int(run.recordsRead), seconds)
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() { if let result { return result } }
            throw HubError(.internalError, "the worker stopped")
        }
    }
}
