import Foundation
import HubApp
import HubCore
import HubDatabase
import HubStore
import Logging
import PostgresNIO

/// The demo's closing summary, from the store itself: records per stream, one person found
/// in both sources through the email blind index (no decryption), proof that no email is
/// stored in clear, and `curl` commands for the records API.
struct DemoReport: Sendable {
    struct Webhooks: Sendable {
        let sent: Int
        let processed: Int
        let changes: [Change]
    }

    struct Change: Sendable {
        let id: String
        let field: String
        let before: String
        let after: String
    }

    struct Match: Sendable {
        let contactID: String
        let contactName: String
        let customerID: String
        let customerName: String
        let email: String
        let total: Int
    }

    let run: Int
    let apiURL: String
    let apiKey: String
    /// Where the demo keeps its API key (0600), for `KEY=$(cat …)`.
    let keyFile: String
    let databases: Databases
    let connections: [(label: String, id: UUID, streams: [(String, Int)])]
    let fetched: [String: [String: Int]]
    let webhooks: Webhooks
    let match: Match?
    let requests: Int
    let rateLimited: Int
    let sealedRecords: Int
    let plaintextEmails: Int
    /// Unified people, and those linked from both sources.
    let unifiedPeople: Int
    let peopleInBothSources: Int
    let elapsed: Duration

    static func collect(store: StoreContext, state: DemoState, log: SampleAPIRequestLog, run: Int, webhooks: Webhooks,
                        apiURL: String, keyFile: String, databases: Databases, elapsed: Duration) async throws -> DemoReport {
        let statistics = RecordStatistics(client: store.client, logger: store.logger)
        let tenant = TenantID(state.tenant)
        func counts(_ connection: UUID) async throws -> [(String, Int)] {
            try await statistics.liveCounts(tenant: tenant, connection: connection).map { ($0.stream, $0.count) }
        }
        // Equal emails have equal blind-index digests: the join compares HMACs, never plaintext.
        // The email digest is the first of each record's indexes (hub.yaml lists email first).
        var match: Match?
        if let shared = try await statistics.firstSharedIndex(tenant: tenant, left: (state.crmConnection, "contacts"),
                                                               right: (state.billingConnection, "customers")) {
            let reader = RecordReader(client: store.client, keyring: store.keyring, logger: store.logger)
            let contact = try await reader.record(tenant: tenant, key: RecordKey(connection: state.crmConnection, stream: "contacts",
                                                                                externalID: shared.left))
            let customer = try await reader.record(tenant: tenant, key: RecordKey(connection: state.billingConnection, stream: "customers",
                                                                                 externalID: shared.right))
            // The email shown is the fixture's (the demo knows its own sample data); nothing is decrypted.
            let email = DemoData().contacts.first { $0["id"]?.stringValue == shared.left }?["email"]?.stringValue ?? ""
            match = Match(contactID: shared.left,
                          contactName: "\(contact.data["first_name"]?.stringValue ?? "") \(contact.data["last_name"]?.stringValue ?? "")",
                          customerID: shared.right, customerName: customer.data["name"]?.stringValue ?? "", email: email, total: shared.total)
        }
        let unified = try await EntityReader(client: store.client, keyring: store.keyring, logger: store.logger).counts(tenant: tenant, model: "person")
        let sealed = try await statistics.sealedCount(tenant: tenant)
        // Anything that looks like an email address anywhere in the records' clear columns.
        let plaintext = try await statistics.plaintextEmailCount(tenant: tenant)
        return DemoReport(
            run: run, apiURL: apiURL, apiKey: state.apiKey, keyFile: keyFile, databases: databases,
            connections: [("crm", state.crmConnection, try await counts(state.crmConnection)),
                          ("billing", state.billingConnection, try await counts(state.billingConnection))],
            fetched: log.recordsServed(), webhooks: webhooks, match: match,
            requests: log.all.count, rateLimited: log.all.filter { $0.status == 429 }.count, sealedRecords: sealed, plaintextEmails: plaintext,
            unifiedPeople: unified.entities, peopleInBothSources: unified.multiSource, elapsed: elapsed)
    }

    /// The records API calls the summary suggests, as full URLs.
    var recordURLs: [String] {
        let crm = connections.first { $0.label == "crm" }?.id.uuidString.lowercased() ?? ""
        let billing = connections.first { $0.label == "billing" }?.id.uuidString.lowercased() ?? ""
        var urls = [
            "\(apiURL)/v1/records?connection_id=\(crm)&stream=contacts&limit=3",
            "\(apiURL)/v1/records?connection_id=\(billing)&stream=invoices&limit=3",
        ]
        if let match {
            let email = match.email.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? match.email
            urls.append("\(apiURL)/v1/records?connection_id=\(billing)&stream=customers&email=\(email)")
            urls.append("\(apiURL)/v1/unified/person?email=\(email)")
        }
        return urls
    }

    /// The GraphQL request the summary suggests: the matched person with both sources.
    var graphQLBody: String? {
        guard let match else { return nil }
        let query = "query($email: String) { personList(email: $email, first: 1) { nodes { id fields { full_name email } sources { connector stream externalId } } } }"
        return JSONValue.object(["query": .string(query), "variables": .object(["email": .string(match.email)])]).canonicalJSON
    }

    func print(_ console: DemoConsole) {
        console.step("Summary (run \(run), \(String(format: "%.1f", elapsed.inSeconds)) s)")
        for (label, _, streams) in connections {
            for (stream, count) in streams {
                let served = fetched[label]?[stream] ?? 0
                console.line("    \(DemoConsole.pad("\(label)/\(stream)", 18))\(DemoConsole.padLeft(DemoConsole.grouped(count), 7)) records"
                             + "   (\(DemoConsole.grouped(served)) fetched this run)")
            }
        }
        console.line("    the sample APIs answered \(requests) requests; \(rateLimited) were 429s, retried after Retry-After")
        console.line("    webhooks: \(webhooks.processed) of \(webhooks.sent) verified, stored and applied")
        if let match {
            console.line("    \(match.total) people are in both sources, matched by the email blind index")
            console.line("    (HMACs compared in SQL, nothing decrypted). For example:")
            console.line("      crm \(match.contactID) \(match.contactName) = billing \(match.customerID) \(match.customerName)")
        }
        console.line("    \(DemoConsole.grouped(unifiedPeople)) unified people; \(peopleInBothSources) of them linked from both sources")
        console.line("    (GET /v1/unified/person: one entity per person, its fields merged)")
        console.line("    \(DemoConsole.grouped(sealedRecords)) records carry sealed fields; rows with an email address in")
        console.line("    clear: \(plaintextEmails) (a regex over every record's clear columns)")
        console.line()
        // Shell variables keep every line within 80 columns; the key is read from its file.
        let crm = connections.first { $0.label == "crm" }?.id.uuidString.lowercased() ?? ""
        let billing = connections.first { $0.label == "billing" }?.id.uuidString.lowercased() ?? ""
        console.line("Try the records API (the key has every scope of the demo tenant):")
        console.line("  KEY=$(cat \(keyFile))")
        console.line("  API=\(apiURL) CRM=\(crm)")
        console.line("  BILLING=\(billing)")
        console.line("  curl -s -G -H \"Authorization: Bearer $KEY\" \"$API/v1/records\" \\")
        console.line("    -d connection_id=$CRM -d stream=contacts -d limit=3")
        console.line("  curl -s -G -H \"Authorization: Bearer $KEY\" \"$API/v1/records\" \\")
        console.line("    -d connection_id=$BILLING -d stream=invoices -d limit=3")
        if let match {
            console.line("  curl -s -G -H \"Authorization: Bearer $KEY\" \"$API/v1/records\" \\")
            console.line("    -d connection_id=$BILLING -d stream=customers \\")
            console.line("    --data-urlencode email=\(match.email)")
            console.line("  curl -s -G -H \"Authorization: Bearer $KEY\" \"$API/v1/unified/person\" \\")
            console.line("    --data-urlencode email=\(match.email)")
            console.line("  curl -s -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' \\")
            console.line("    \"$API/graphql\" -d '{\"variables\": {\"e\": \"\(match.email)\"}, \"query\":")
            console.line("    \"query($e: String) { personList(email: $e) { nodes { id sources { connector } } } }\"}'")
        }
        console.line()
        console.line("Databases (their passwords are in the data folder):")
        console.line("  records:  \(databases.main.description)")
        if let vault = databases.vault { console.line("  vault:    \(vault.description)  (keys, credentials, audit log)") }
    }

    var json: JSONValue {
        var connectionsJSON: [String: JSONValue] = [:]
        for (label, id, streams) in connections {
            var counts: [String: JSONValue] = [:]
            for (stream, count) in streams { counts[stream] = .number(Double(count)) }
            var fetchedJSON: [String: JSONValue] = [:]
            for (stream, count) in fetched[label] ?? [:] { fetchedJSON[stream] = .number(Double(count)) }
            connectionsJSON[label] = .object(["id": .string(id.uuidString.lowercased()), "records": .object(counts),
                                              "fetched": .object(fetchedJSON)])
        }
        var object: [String: JSONValue] = [
            "run": .number(Double(run)), "api_url": .string(apiURL), "api_key": .string(apiKey),
            // The machine-readable line carries the usable URL, password included, as it carries the API key.
            "database_url": .string(databases.main.revealedString),
            "vault_database_url": databases.vault.map { .string($0.revealedString) } ?? .null,
            "connections": .object(connectionsJSON),
            "webhooks": .object(["sent": .number(Double(webhooks.sent)), "processed": .number(Double(webhooks.processed)),
                                 "changes": .array(webhooks.changes.map { change in
                                     .object(["id": .string(change.id), "field": .string(change.field),
                                              "before": .string(change.before), "after": .string(change.after)])
                                 })]),
            "sample_api_requests": .number(Double(requests)), "rate_limited": .number(Double(rateLimited)),
            "sealed_records": .number(Double(sealedRecords)), "plaintext_emails": .number(Double(plaintextEmails)),
            "unified_people": .number(Double(unifiedPeople)), "people_in_both_sources": .number(Double(peopleInBothSources)),
            "curl": .array(recordURLs.map { .string("curl -s -H \"Authorization: Bearer \(apiKey)\" \"\($0)\"") }),
            "graphql_url": .string("\(apiURL)/graphql"),
            "elapsed_seconds": .number((elapsed.inSeconds * 10).rounded() / 10),
        ]
        if let body = graphQLBody {
            object["graphql_curl"] = .string("curl -s -H \"Authorization: Bearer \(apiKey)\" -H \"Content-Type: application/json\" -d '\(body)' \"\(apiURL)/graphql\"")
        }
        if let match {
            object["match"] = .object(["crm_contact": .string(match.contactID), "billing_customer": .string(match.customerID),
                                       "name": .string(match.contactName), "total": .number(Double(match.total))])
        }
        return .object(object)
    }
}
