import Foundation
import HubCore
import HubCrypto
import HubDatabase
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

/// The roles as separate processes (an api, a scheduler and two workers) while their
/// PostgreSQL, run by `tributary db`, stops for several seconds and comes back on the same port,
/// as a restart or a failover does to them in production.
@Suite("Surviving a database restart", .serialized)
struct DatabaseRestartTests {
    let logger = TestDatabase.logger

    @Test func everyRoleRidesOutADatabaseRestart() async throws {
        let crm = FakeCRM(count: 3000, pageDelay: .milliseconds(1200))
        let scratch = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let folder = scratch + "/crm"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FakeCRM.manifest.write(toFile: folder + "/manifest.yaml", atomically: true, encoding: .utf8)
        try FakeCRM.sidecar.write(toFile: folder + "/hub.yaml", atomically: true, encoding: .utf8)

        try await crm.makeServer().withRunning { baseURL in
            var database = try await DatabaseProcess.start(dataDirectory: scratch + "/data", urlFile: scratch + "/db.url")
            let url = database.url
            let base: [String: String] = [
                "TRIBUTARY_DATABASE_URL": url.revealedString, "TRIBUTARY_MASTER_KEY": LocalKeyEncryptionKey.generateBase64().revealed,
                "TRIBUTARY_LOG_LEVEL": "notice",
            ]
            let migrated = try await TributaryProcess.run(["migrate"], environment: base)
            try #require(migrated.status == 0, "\(migrated.stderr)")
            let tenant = try await TributaryProcess.run(["tenants", "create", "acme"], environment: base)
            let tenantID = tenant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let added = try await TributaryProcess.run(["connectors", "add", folder], environment: base)
            try #require(added.status == 0, "\(added.stderr)")
            let key = try await TributaryProcess.run(["api-keys", "create", "--tenant", tenantID, "--scope", "records:read"], environment: base)
            let apiKey = key.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

            let config = #"{"base_url": "\#(baseURL)", "start_date": "2023-01-01T00:00:00Z", "api_key": "\#(crm.token)"}"#
            let created = try await TributaryProcess.run(["connections", "create", "--tenant", tenantID, "--connector", "crm"],
                                                         environment: base, standardInput: config)
            try #require(created.status == 0, "\(created.stderr)")
            let connection = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

            var roles = base
            roles["TRIBUTARY_EGRESS_ALLOW"] = LoopbackEgress.allowList
            roles["TRIBUTARY_SYNC_SCHEDULE_INTERVAL_SECONDS"] = "2"
            roles["TRIBUTARY_JOB_LEASE_SECONDS"] = "6"
            let port = try freeTestPort()
            var apiEnvironment = roles
            apiEnvironment["TRIBUTARY_HTTP_ADDRESS"] = "127.0.0.1:\(port)"
            let api = try TributaryProcess(["serve", "--role", "api"], environment: apiEnvironment)
            let scheduler = try TributaryProcess(["serve", "--role", "scheduler"], environment: roles)
            let workers = try (0..<2).map { _ in try TributaryProcess(["serve", "--role", "worker"], environment: roles) }
            let everyone = [api, scheduler] + workers
            defer { for process in everyone { process.signal(SIGKILL) } }
            let apiBase = "http://127.0.0.1:\(port)"
            try #require(await HTTPProbe.waitFor(apiBase + "/readyz"), "\(api.standardOutput)")

            // The scheduler enqueues the new connection's first sync; stop the database mid-read.
            let records = "SELECT count(*)::int8 FROM records WHERE connection_id = '\(connection)'"
            let inFlight = try await eventually(timeout: .seconds(60), { try await scalar(url, records) }, until: { $0 > 0 })
            #expect(inFlight > 0 && inFlight < 3000, "the sync should be under way: \(inFlight) records")
            await database.stop()

            // During the outage, requests get a prompt 503 that says when to come back.
            let headers = ["Authorization": "Bearer \(apiKey)"]
            var outageAnswers: [(status: Int, seconds: Double, retryAfter: String?)] = []
            for path in ["/v1/connections/\(connection)", "/v1/records?connection=\(connection)&stream=contacts"] {
                for _ in 0..<2 {
                    let asked = ContinuousClock.now
                    let response = await HTTPProbe.fetch(apiBase + path, headers: headers, timeout: 20)
                    outageAnswers.append((response?.status ?? -1, (ContinuousClock.now - asked).inSeconds, response?.headers["retry-after"]))
                    try await Task.sleep(for: .seconds(1))
                }
            }
            try await Task.sleep(for: .seconds(2))

            database = try await DatabaseProcess.start(dataDirectory: scratch + "/data", urlFile: scratch + "/db.url")
            #expect(database.url.port == url.port, "the database must come back on its port")
            let back = try await scalarDate(url, "SELECT now()")

            // A connection created after the return is scheduled: the scheduler leads again.
            let second = try await TributaryProcess.run(["connections", "create", "--tenant", tenantID, "--connector", "crm"],
                                                        environment: base, standardInput: config)
            let secondConnection = second.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let newPeriods = try await waitFor(
                url, "SELECT count(*)::int8 FROM periodic_runs WHERE schedule = 'sync.schedule' AND period_start >= '\(RFC3339Text(back))'",
                atLeast: 2, timeout: .seconds(30)
            )
            let finished = try await waitFor(
                url, "SELECT count(*)::int8 FROM sync_runs WHERE connection_id = '\(connection)' AND status = 'succeeded'",
                atLeast: 1, timeout: .seconds(120)
            )
            let secondSynced = try await waitFor(
                url, "SELECT count(*)::int8 FROM sync_runs WHERE connection_id = '\(secondConnection)' AND status = 'succeeded'",
                atLeast: 1, timeout: .seconds(120)
            )
            let total = try await scalar(url, records)
            let distinct = try await scalar(url, "SELECT count(DISTINCT external_id)::int8 FROM records WHERE connection_id = '\(connection)'")
            let afterReturn = await HTTPProbe.get(apiBase + "/v1/connections/\(connection)", headers: headers)

            // Every role stops within its grace period (10 s, plus 5 for the group).
            let stopping = ContinuousClock.now
            for process in everyone { process.signal(SIGTERM) }
            var exits: [Int32?] = []
            for process in everyone { exits.append(await process.waitForExit(timeout: .seconds(40))) }
            let stopTook = ContinuousClock.now - stopping
            await database.stop()

            // The figures, for the record (the assertions below hold them to their limits).
            print("database restart: outage answers \(outageAnswers.map { "\($0.status) in \(String(format: "%.2f", $0.seconds)) s" }), "
                  + "\(newPeriods) periodic runs after the return, roles stopped in \(stopTook)")
            for answer in outageAnswers {
                #expect(answer.status == 503, "during the outage: \(outageAnswers)\n\(api.standardOutput)")
                #expect(answer.seconds < 10, "a request waited \(answer.seconds) s for the database")
                #expect(answer.retryAfter != nil, "a 503 must say when to retry")
            }
            #expect(newPeriods >= 2, "the scheduler recorded no periodic run after the database returned:\n\(scheduler.standardOutput)")
            #expect(finished == 1, "the sync in flight did not complete:\n\(workers.map(\.standardOutput).joined(separator: "\n"))")
            #expect(secondSynced == 1, "a connection created after the restart was never synced")
            #expect(total == 3000, "records lost or duplicated: \(total)")
            #expect(distinct == 3000)
            #expect(afterReturn?.status == 200, "the api must answer again once the database is back")
            #expect(exits.allSatisfy { $0 == 0 }, "exit statuses \(exits):\n\(scheduler.standardOutput)")
            #expect(stopTook < .seconds(30), "stopping took \(stopTook)")
        }
    }

    func scalar(_ url: DatabaseURL, _ sql: String) async throws -> Int {
        try await TestDatabase.scalar(url, sql)
    }

    func scalarDate(_ url: DatabaseURL, _ sql: String) async throws -> Date {
        try await TestDatabase.withClient(url) { client in
            for try await value in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Date.self) { return value }
            return Date()
        }
    }

    func waitFor(_ url: DatabaseURL, _ sql: String, atLeast expected: Int, timeout: Duration) async throws -> Int {
        try await eventually(timeout: timeout, every: .milliseconds(250), { try await scalar(url, sql) }, until: { $0 >= expected })
    }

    func RFC3339Text(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}

/// `tributary db` as a process: the PostgreSQL a test can stop and start again.
struct DatabaseProcess {
    let process: TributaryProcess
    let url: DatabaseURL

    static func start(dataDirectory: String, urlFile: String) async throws -> DatabaseProcess {
        try? FileManager.default.removeItem(atPath: urlFile)
        let process = try TributaryProcess(["db", "--data-dir", dataDirectory, "--url-file", urlFile])
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: urlFile, encoding: .utf8), text.hasSuffix("\n") {
                return DatabaseProcess(process: process, url: try DatabaseURL(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)))
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HubError(.embeddedPostgres, "tributary db did not start: \(process.standardError)")
    }

    /// SIGTERM, as an operator's restart: PostgreSQL ends every session and stops.
    func stop() async {
        process.signal(SIGTERM)
        _ = await process.waitForExit(timeout: .seconds(30))
    }
}
