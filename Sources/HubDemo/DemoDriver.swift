import Foundation
import HubApp
import HubConnectors
import HubCore
import HubCrypto
import HubDatabase
import HubQueue
import HubStore
import HubSync
import Logging
import PostgresNIO
import ServiceLifecycle

/// `tributary demo`, once every server is up: registers the sample connectors, creates (or
/// reuses) the demo tenant, key and connections, syncs both sample APIs with live progress,
/// has the CRM send signed webhooks, and prints what happened. Then it waits for Ctrl-C, or,
/// with `--exit`, ends the service group right away.
struct DemoDriver: Service {
    struct Options: Sendable {
        var dataDirectory: String
        var connectorsDirectory: String
        var json: Bool
        var exitAfterSummary: Bool
        var apiHost: String
        var databases: Databases
        /// The key file's path as the user would type it (relative when the data folder was given so).
        var keyFileShown: String
    }

    let options: Options
    let store: StoreContext
    let ports: PortRendezvous
    let crm: SampleCRM
    let billing: SampleBilling
    let log: SampleAPIRequestLog
    let run: Int
    let started: ContinuousClock.Instant
    let console: DemoConsole

    func run() async throws {
        let apiPort = await ports.port("api")
        let crmURL = "http://127.0.0.1:\(await ports.port("crm"))"
        let billingURL = "http://127.0.0.1:\(await ports.port("billing"))"
        let apiURL = "http://\(options.apiHost):\(apiPort)"
        console.line("    API on \(apiURL)")
        console.line("    sample CRM on \(crmURL), sample billing on \(billingURL)")

        let versions = try await registerConnectors()
        let state = try await prepareTenant(versions: versions, crmURL: crmURL, billingURL: billingURL, apiURL: apiURL)
        try await sync(state)
        let webhooks = try await fireWebhooks(state)
        let report = try await DemoReport.collect(store: store, state: state, log: log, run: run, webhooks: webhooks,
                                                  apiURL: apiURL, keyFile: options.keyFileShown, databases: options.databases,
                                                  elapsed: ContinuousClock.now - started)
        try? log.jsonLines(run: run).appendingToFile(options.dataDirectory + "/sample-api-requests.jsonl")
        report.print(console)
        if options.json { console.emitJSON(report.json.canonicalJSON) }
        if options.exitAfterSummary { return }
        console.line("Serving until Ctrl-C.")
        try? await gracefulShutdown()
    }

    // MARK: - Steps

    /// The demo's unified person: the bundled `models/person.yaml` linked on email alone (the
    /// sample data's phone numbers are random, so two strangers could share one), with the
    /// CRM's name preferred.
    static let personModel = """
        name: person
        description: A human being known to one or more sources.
        schema:
          type: object
          properties:
            email: {type: string, format: email}
            phone: {type: string}
            full_name: {type: string}
            title: {type: string}
        sensitive: [email, phone]
        identity:
          email: email
        survivorship:
          full_name: {priority: [demo-crm]}
        """

    private func registerConnectors() async throws -> [String: Int] {
        let (modelVersion, modelCreated) = try await store.models.register(name: "person", definition: Self.personModel)
        console.step("Registering the person model and connectors from \(options.connectorsDirectory)/")
        console.line("    \(DemoConsole.pad("person", 14)) v\(modelVersion)\(modelCreated ? " (new)" : "")   linked on email")
        var versions: [String: Int] = [:]
        for name in ["demo-crm", "demo-billing"] {
            let definition = try ConnectorDefinition.load(folder: options.connectorsDirectory + "/" + name)
            let (version, created) = try await store.connectors.register(
                name: name, manifest: definition.manifestText, sidecar: definition.sidecarText)
            versions[name] = version
            console.line("    \(DemoConsole.pad(name, 14)) v\(version)\(created ? " (new)" : "")   streams: "
                         + definition.streamNames.joined(separator: ", "))
        }
        return versions
    }

    private func prepareTenant(versions: [String: Int], crmURL: String, billingURL: String, apiURL: String) async throws -> DemoState {
        var state = try DemoState.load(options.dataDirectory)
        if let existing = state {
            let tenant = try? await store.tenants.get(TenantID(existing.tenant))
            let identity = try? await ApiKeyStore(client: store.client, logger: store.logger).authenticate(existing.apiKey)
            if tenant == nil || identity == nil {
                console.line("    demo.json names a tenant or key this database lacks; creating new ones")
                state = nil
            }
        }
        let connections = store.connections
        // The sample APIs' own keys: what a user would paste from the provider's dashboard.
        let crmKey = crm.apiKey
        let billingKey = billing.apiKey
        if state == nil {
            console.step("Creating the demo tenant, its API key and two connections")
            let tenant = try await store.tenants.create(name: "Demo")
            let key = try await ApiKeyStore(client: store.client, logger: store.logger).create(
                tenant: tenant.id, name: "demo", scopes: ApiScope.tenantScopes)
            // Credentials go in as sealed bytes, never as arguments or config.
            let crm = try await connections.create(
                tenant: tenant.id, connector: "demo-crm", connectorVersion: versions["demo-crm"]!, externalAccount: "demo-crm-account",
                config: ["base_url": .string(crmURL)], credentials: Secret(Array(#"{"api_key":"\#(crmKey)"}"#.utf8)))
            let billing = try await connections.create(
                tenant: tenant.id, connector: "demo-billing", connectorVersion: versions["demo-billing"]!,
                externalAccount: "demo-billing-account",
                config: ["base_url": .string(billingURL)], credentials: Secret(Array(#"{"api_key":"\#(billingKey)"}"#.utf8)))
            state = DemoState(tenant: tenant.id.rawValue, apiKey: key.key.revealed, crmConnection: crm, billingConnection: billing, runs: 0)
        } else {
            console.step("Reusing the demo tenant and connections from \(DemoState.file(options.dataDirectory))")
        }
        guard var state else { throw HubError(.internalError, "no demo state") }
        state.runs = run
        let tenant = TenantID(state.tenant)
        // The CRM issues a signing secret per webhook endpoint; the connection stores it sealed.
        let secret = try await registerWebhookEndpoint(crmURL: crmURL, apiKey: crmKey,
                                                       url: "\(apiURL)/v1/webhooks/\(state.crmConnection)")
        let crmCredentials = JSONValue.object(["api_key": .string(crmKey), "webhook_secret": .string(secret)]).canonicalJSON
        _ = try await connections.update(tenant: tenant, connection: state.crmConnection, config: ["base_url": .string(crmURL)],
                                         credentials: Secret(Array(crmCredentials.utf8)), status: nil, scheduleSeconds: nil)
        _ = try await connections.update(tenant: tenant, connection: state.billingConnection, config: ["base_url": .string(billingURL)],
                                         credentials: nil, status: nil, scheduleSeconds: nil)
        try state.save(options.dataDirectory)
        console.line("    tenant \(state.tenant.uuidString.lowercased())")
        console.line("    crm     connection \(state.crmConnection.uuidString.lowercased())")
        console.line("    billing connection \(state.billingConnection.uuidString.lowercased())")
        return state
    }

    private func registerWebhookEndpoint(crmURL: String, apiKey: String, url: String) async throws -> String {
        let response = try await DemoHTTP.post("\(crmURL)/v1/webhook_endpoints", bearer: apiKey,
                                               body: JSONValue.object(["url": .string(url)]).canonicalJSON)
        guard response.status == 201, case .string(let secret)? = response.json["secret"] else {
            throw HubError(.internalError, "the sample CRM refused the webhook endpoint (HTTP \(response.status))")
        }
        return secret
    }

    private func sync(_ state: DemoState) async throws {
        console.step(run == 1 ? "First sync of both connections (full)" : "Run \(run): incremental sync of both connections")
        let tenant = TenantID(state.tenant)
        var runs: [(label: String, run: Int64)] = []
        for (label, connection) in [("crm", state.crmConnection), ("billing", state.billingConnection)] {
            for started in try await store.syncService.start(connection: connection, tenant: tenant) {
                runs.append(("\(label)/\(started.stream)", started.run))
            }
        }
        let begin = ContinuousClock.now
        var finishedAfter: [Int64: Double] = [:]
        var printed: [Int64: String] = [:]
        var lastPrint = ContinuousClock.now - .seconds(10)
        while true {
            let current = try await store.runs.runs(ids: runs.map(\.run))
            let byID = Dictionary(uniqueKeysWithValues: current.map { ($0.id, $0) })
            let finished = current.allSatisfy(\.status.isFinal)
            let seconds = max((ContinuousClock.now - begin).inSeconds, 0.001)
            for run in current where run.status.isFinal && finishedAfter[run.id] == nil {
                finishedAfter[run.id] = seconds
            }
            // A line per stream when its numbers change, at most once a second (and at the end).
            if finished || ContinuousClock.now - lastPrint >= .seconds(1) {
                for (label, id) in runs {
                    guard let run = byID[id] else { continue }
                    // A finished stream's rate is over its own time, so it stops changing.
                    let rate = Int(Double(run.recordsRead) / (finishedAfter[id] ?? seconds))
                    let text = "    \(DemoConsole.pad(label, 18)) \(DemoConsole.pad(run.status.rawValue, 9))"
                        + "\(DemoConsole.padLeft(String(run.pages), 4)) pages \(DemoConsole.padLeft(DemoConsole.grouped(Int(run.recordsRead)), 7)) records"
                        + " \(DemoConsole.padLeft(DemoConsole.grouped(rate), 7)) rec/s"
                    if printed[id] != text { console.line(text); printed[id] = text }
                }
                lastPrint = ContinuousClock.now
            }
            if finished {
                if let failed = current.first(where: { $0.status != .succeeded }) {
                    throw HubError(.internalError, "the sync of \(failed.stream) \(failed.status.rawValue): \(failed.error ?? "no error recorded")")
                }
                console.line("    all streams synced in \(String(format: "%.1f", seconds)) s")
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Has the CRM change a few contacts and deliver signed webhooks; waits until they are processed.
    private func fireWebhooks(_ state: DemoState) async throws -> DemoReport.Webhooks {
        console.step("The CRM changes \(DemoData.changesPerRound) contacts and sends signed webhooks")
        let before = DemoData(rounds: run - 1).contacts
        let (changed, statuses) = await crm.change(round: run)
        guard statuses.allSatisfy({ $0 == 200 }) else {
            throw HubError(.internalError, "Tributary did not accept every webhook (HTTP \(statuses.map(String.init).joined(separator: ", ")))")
        }
        let eventIDs = (1...changed.count).map { "evt_r\(run)_\($0)" }
        let inbox = WebhookInbox(client: store.client, keyring: store.keyring, logger: store.logger)
        var processed = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            processed = try await inbox.processedCount(connection: state.crmConnection, tenant: TenantID(state.tenant), providerEventIDs: eventIDs)
            if processed == eventIDs.count { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard processed == eventIDs.count else {
            throw HubError(.internalError, "only \(processed) of \(eventIDs.count) webhook events were processed within 30 s")
        }
        var changes: [DemoReport.Change] = []
        for contact in changed {
            let id = contact["id"]?.stringValue ?? ""
            let old = before.first { $0["id"]?.stringValue == id }?["title"]?.stringValue ?? ""
            let stored = try await storedTitle(tenant: TenantID(state.tenant), connection: state.crmConnection, id: id)
            changes.append(.init(id: id, field: "title", before: old, after: stored ?? "(missing)"))
            console.line("    \(id)  title: \(old) -> \(stored ?? "(missing)")")
        }
        return DemoReport.Webhooks(sent: statuses.count, processed: processed, changes: changes)
    }

    private func storedTitle(tenant: TenantID, connection: UUID, id: String) async throws -> String? {
        do {
            let record = try await RecordReader(client: store.client, keyring: store.keyring, logger: store.logger)
                .record(tenant: tenant, key: RecordKey(connection: connection, stream: "contacts", externalID: id))
            return record.data["title"]?.stringValue
        } catch let error as HubError where error.code == .notFound {
            return nil
        }
    }
}

extension String {
    func appendingToFile(_ path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(utf8))
    }
}
