import Foundation
import HubApp
import HubCore
import HubDatabase
import HubDemo
import Testing
import TributaryTestSupport

/// `tributary demo` end to end, as a newcomer runs it: a subprocess in a fresh folder, its
/// summary checked against the fixture data, its curl URLs called with its key, then a
/// second run that must fetch only what changed and duplicate nothing.
@Suite("tributary demo", .serialized)
struct DemoTests {
    static let connectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("connectors").path

    /// Waits for the one JSON line the demo prints on stdout once everything is ready.
    func summary(_ process: TributaryProcess, timeout: Duration = .seconds(180)) async throws -> JSONValue {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = process.standardOutput.split(separator: "\n").first(where: { $0.hasPrefix("{") }),
               let json = try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)) {
                return json
            }
            guard process.process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("no summary line; stderr:\n\(process.standardError)")
        throw CancellationError()
    }

    /// The process's state and each thread's name and wait channel, for a failure message.
    static func threads(_ pid: Int32) -> String {
        let state = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("State:") } ?? "gone"
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return "\(state) threads: " + tasks.map { task in
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8)) ?? "?"
            let wchan = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/wchan", encoding: .utf8)) ?? "?"
            return "\(comm.trimmingCharacters(in: .whitespacesAndNewlines))@\(wchan)"
        }.joined(separator: ",")
    }

    func number(_ value: JSONValue?) -> Int? {
        if case .number(let number)? = value { return Int(number) }
        return nil
    }

    func records(_ json: JSONValue, _ connection: String, _ stream: String) -> Int? {
        number(json["connections"]?[connection]?["records"]?[stream])
    }

    func fetched(_ json: JSONValue, _ connection: String, _ stream: String) -> Int {
        number(json["connections"]?[connection]?["fetched"]?[stream]) ?? 0
    }

    /// The first run as a new user makes it: from a folder that is no checkout (so the sample
    /// connectors come from the binary), and, as root, with the data folder inside a folder
    /// closed to other users (a 0700 home folder), which the PostgreSQL account cannot reach.
    @Test("tributary demo reaches its summary from an empty folder, inside a folder closed to others")
    func demoRunsFromAnywhere() async throws {
        let home = try makeScratchDirectory("home")
        defer { try? FileManager.default.removeItem(atPath: home) }
        chmod(home, 0o700)
        let elsewhere = home + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: false)
        let demo = try TributaryProcess(["demo", "--json", "--exit", "--port", "0"], directory: elsewhere)
        let summary = try await summary(demo)
        let status = await demo.waitForExit(timeout: .seconds(60))
        #expect(status == 0, "\(demo.standardError)")
        #expect(records(summary, "crm", "contacts") == DemoData.contactCount)
        #expect(records(summary, "billing", "invoices") == DemoData.invoiceCount)
        #expect(FileManager.default.fileExists(atPath: elsewhere + "/.tributary-demo/connectors/demo-crm/manifest.yaml"),
                "the built-in connectors are written out beside the demo's data")
        // The commands it prints work from wherever the user's shell is (scripts/demo runs it
        // from the repository, not from there): the key file's path is absolute.
        let printed = demo.standardOutput + demo.standardError
        #expect(printed.contains("KEY=$(cat \(elsewhere)/.tributary-demo/api-key)"), "\(printed)")
        if geteuid() == 0 {
            #expect(demo.standardError.contains("its cluster lives in /var/lib/tributary/clusters/"), "\(demo.standardError)")
            // Its cluster went where the postgres account can reach it; clean it up.
            for line in demo.standardError.split(separator: "\n") {
                if let range = line.range(of: "/var/lib/tributary/clusters/") {
                    let name = line[range.upperBound...].prefix { $0.isHexDigit }
                    try? FileManager.default.removeItem(atPath: "/var/lib/tributary/clusters/" + name)
                }
            }
        }
    }

    @Test("first run syncs everything and serves it; a second run fetches only changes and duplicates nothing")
    func demoRunsTwice() async throws {
        let root = try makeScratchDirectory("demo")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let arguments = ["demo", "--json", "--data-dir", root, "--port", "0", "--connectors", Self.connectors]

        // Run 1, serving: the summary, then the API it points at must answer.
        // Info logs (JSON, on stderr) so that a failure shows the process's own timeline.
        let first = try TributaryProcess(arguments, environment: ["TRIBUTARY_LOG_LEVEL": "info"])
        let one = try await summary(first)
        #expect(number(one["run"]) == 1)
        #expect(records(one, "crm", "contacts") == DemoData.contactCount)
        #expect(records(one, "crm", "companies") == DemoData.companyCount)
        #expect(records(one, "billing", "customers") == DemoData.customerCount)
        #expect(records(one, "billing", "invoices") == DemoData.invoiceCount)
        #expect(fetched(one, "crm", "contacts") >= DemoData.contactCount)
        #expect(number(one["webhooks"]?["sent"]) == DemoData.changesPerRound)
        #expect(number(one["webhooks"]?["processed"]) == DemoData.changesPerRound)
        #expect(one["webhooks"]?["changes"]?.arrayValue?.allSatisfy { $0["after"]?.stringValue?.hasPrefix("Senior ") == true } == true)
        #expect(number(one["match"]?["total"]) == DemoData.sharedCustomers)
        #expect(number(one["plaintext_emails"]) == 0)
        #expect(number(one["rate_limited"]).map { $0 >= 1 } == true, "the CRM's 429 was met and retried")

        // The keys and credentials are in the vault database, reached by a role of its own; the
        // records' database has no table for them, and each role reaches only its own database.
        let mainURL = try DatabaseURL(parsing: try #require(one["database_url"]?.stringValue))
        let vaultURL = try DatabaseURL(parsing: try #require(one["vault_database_url"]?.stringValue))
        #expect(vaultURL.database == "tributary_vault" && vaultURL.username == "tributary_vault")
        #expect(try await TestDatabase.scalar(vaultURL, "SELECT count(*)::int FROM connection_credentials") == 2)
        #expect(try await TestDatabase.scalar(vaultURL, "SELECT count(*)::int FROM data_keys WHERE state = 'active'") >= 2)
        #expect(try await TestDatabase.scalar(mainURL, "SELECT count(*)::int FROM pg_tables WHERE tablename IN ('data_keys', 'connection_credentials', 'audit_log')") == 0)
        #expect(mainURL.username == "tributary_app")
        await #expect(throws: (any Error).self) { _ = try await TestDatabase.scalar(vaultURL.withDatabase(mainURL.database), "SELECT 1") }
        await #expect(throws: (any Error).self) { _ = try await TestDatabase.scalar(mainURL.withDatabase(vaultURL.database), "SELECT 1") }
        #expect(try await TestDatabase.scalar(mainURL, "SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> 'tributary_app'") == 0)

        let key = try #require(one["api_key"]?.stringValue)
        #expect(number(one["unified_people"]) == DemoData.contactCount + DemoData.customerCount - DemoData.sharedCustomers)
        #expect(number(one["people_in_both_sources"]) == DemoData.sharedCustomers)
        let commands = (one["curl"]?.arrayValue ?? []).compactMap(\.stringValue)
        #expect(commands.count == 4)
        for command in commands {
            #expect(command.contains("Bearer \(key)"))
            let quoted = command.split(separator: "\"").last { $0.hasPrefix("http") }.map(String.init)
            let url = try #require(quoted)
            let response = try #require(await HTTPProbe.get(url, headers: ["Authorization": "Bearer \(key)"]))
            #expect(response.status == 200, "\(url): \(response.body)")
            let page = try JSONDecoder().decode(JSONValue.self, from: Data(response.body.utf8))
            #expect((page["data"]?.arrayValue?.count ?? 0) >= 1, "\(url)")
            if url.contains("/v1/unified/") {
                // One person, from both sources, the CRM's name preferred, the email revealed.
                let person = page["data"]?.arrayValue?.first
                #expect(page["data"]?.arrayValue?.count == 1)
                #expect(person?["sources"]?.arrayValue?.count == 2, "\(page)")
                #expect(person?["fields"]?["email"]?.stringValue?.contains("@") == true, "\(page)")
                #expect(person?["sources"]?.arrayValue?.map { $0["connector"]?.stringValue ?? "" }.sorted() == ["demo-billing", "demo-crm"])
            } else if url.contains("email=") {
                // Found through the blind index, and revealed for a key with records:read-sensitive.
                #expect(page["data"]?.arrayValue?.count == 1)
                #expect(page["data"]?.arrayValue?.first?["data"]?["email"]?.stringValue?.contains("@") == true)
            }
        }
        // The GraphQL command as printed: its body and URL, sent as curl would send them.
        #expect(one["graphql_url"]?.stringValue?.hasSuffix("/graphql") == true)
        let graphQL = try #require(one["graphql_curl"]?.stringValue)
        #expect(graphQL.contains("Bearer \(key)"))
        let body = try #require(graphQL.components(separatedBy: "-d '").last?.components(separatedBy: "' \"").first)
        let graphQLURL = try #require(graphQL.split(separator: "\"").last { $0.hasPrefix("http") }.map(String.init))
        let answer = try #require(await HTTPProbe.post(graphQLURL, body: body, headers: ["Authorization": "Bearer \(key)", "Content-Type": "application/json"]))
        #expect(answer.status == 200, "\(answer.body)")
        let person = try JSONDecoder().decode(JSONValue.self, from: Data(answer.body.utf8))["data"]?["personList"]?["nodes"]?.arrayValue?.first
        #expect(person?["sources"]?.arrayValue?.count == 2, "\(answer.body)")
        #expect(person?["fields"]?["email"]?.stringValue?.contains("@") == true, "\(answer.body)")
        let postgres = try #require(postmasterPID(root))
        let stopping = ContinuousClock.now
        first.signal(SIGTERM)
        let status = await first.waitForExit(timeout: .seconds(30))
        #expect(status == 0, "exit \(String(describing: status)) after \(ContinuousClock.now - stopping); \(Self.threads(first.pid)): \(first.standardError)")
        #expect(!processAlive(postgres), "PostgreSQL outlived tributary demo")

        // Run 2: the same data folder; incremental streams fetch only what changed since.
        let second = try TributaryProcess(arguments + ["--exit"])
        #expect(await second.waitForExit(timeout: .seconds(180)) == 0, "\(second.standardError)")
        let two = try await summary(second, timeout: .seconds(1))
        #expect(number(two["run"]) == 2)
        #expect(two["api_key"] == one["api_key"])
        for (connection, stream) in [("crm", "contacts"), ("crm", "companies"), ("billing", "customers"), ("billing", "invoices")] {
            #expect(records(two, connection, stream) == records(one, connection, stream), "\(connection)/\(stream) duplicated or lost")
        }
        // Run 1's webhook changes, plus the last record of run 1 again (the cursor is inclusive).
        #expect((DemoData.changesPerRound...DemoData.changesPerRound + 1).contains(fetched(two, "crm", "contacts")))
        #expect(fetched(two, "crm", "companies") <= 1)
        #expect(fetched(two, "billing", "customers") <= 1 + DemoData.customerCount, "customers once (for invoices) plus the boundary")

        // The sample APIs' request log: run 2 asked the CRM only for changes since run 1's state.
        let log = try String(contentsOfFile: root + "/sample-api-requests.jsonl", encoding: .utf8)
        let contactRequests = log.split(separator: "\n").compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
            .filter { $0["stream"] == .string("contacts") && number($0["run"]) == 2 && number($0["status"]) == 200 }
        #expect(!contactRequests.isEmpty)
        #expect(contactRequests.allSatisfy { $0["query"]?.stringValue?.contains("updated_since=2026") == true }, "\(contactRequests)")
        #expect(postmasterPID(root) == nil, "no PostgreSQL left running")
    }
}
