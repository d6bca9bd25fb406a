import Foundation
import HubConnectors
import HubCore
import HubDatabase
import HubStore
import Logging

/// Every setting Tributary reads, from environment variables, in one place (12-factor).
/// `docs/configuration.md` documents each; a test keeps the two in step.
public struct HubConfiguration: Sendable {
    /// An external PostgreSQL; nil runs the embedded one in `dataDirectory`.
    public var databaseURL: DatabaseURL?
    /// The vault database (keys, credentials, audit log: docs/vault.md); nil keeps them in
    /// the main database. With the embedded PostgreSQL the vault is always a database of its own.
    public var vaultDatabaseURL: DatabaseURL?
    public var databaseMaxConnections: Int
    public var dataDirectory: String
    /// Where process connectors' virtual environments are installed; nil: DATA_DIR/connector-runtimes.
    public var connectorRuntimesDirectory: String?
    /// The folder process connectors are installed in.
    public var runtimesDirectory: String { connectorRuntimesDirectory ?? "\(dataDirectory)/connector-runtimes" }
    public var httpHost: String
    public var httpPort: Int
    public var logLevel: Logger.Level
    public var shutdownGracePeriod: Duration
    /// The key-encryption key as base64; prefer `masterKeyFile`, since a file keeps it out of
    /// the process environment that crash reporters and `/proc` expose.
    public var masterKey: Secret<String>?
    public var masterKeyFile: String?
    /// Files of key-encryption keys being rotated away from: they still open the tenant keys
    /// they wrapped until `tributary keys rewrap` has moved those to the current key.
    public var previousMasterKeyFiles: [String] = []
    /// The key-encryption key in AWS KMS instead of a local one.
    public var kms: KMSSettings?
    /// Queues the worker role serves, each with its number of concurrent jobs.
    public var workerQueues: [(name: String, slots: Int)] = [("default", 10), ("sync", 4), ("maintenance", 1)]
    /// Finished jobs are kept this long for inspection, then pruned.
    public var jobRetention: Duration = .seconds(7 * 24 * 3600)
    /// How long a worker holds a job without a heartbeat before another may take it over.
    public var jobLease: Duration = .seconds(30)
    /// How often the scheduler looks for connections due a sync.
    public var syncScheduleInterval: Duration = .seconds(60)
    /// Limits PostgreSQL enforces on the roles' sessions: a statement's longest run, and the
    /// longest a session may idle inside a transaction before the server ends it (which is
    /// what frees the row locks of a worker frozen mid-transaction).
    public var databaseSessionLimits = DatabaseSessionLimits(statementTimeout: .seconds(300), idleInTransactionTimeout: .seconds(30))
    /// API requests a second per key (bursts of twice that).
    public var apiRateLimit: Double = 50
    /// Requests a second with a missing or unknown API key allowed per client address (bursts
    /// of ten times that); past it, 429 before any key is looked up.
    public var apiAuthFailureLimit: Double = 10
    /// Proxies (load balancers) whose `X-Forwarded-For` names the real client.
    public var trustedProxies: [IPRange] = []
    /// When set, `/metrics` answers only requests bearing it (`Authorization: Bearer …`).
    public var metricsToken: Secret<String>?
    /// Address ranges the engine may reach although they are private or loopback (the egress
    /// policy refuses those by default); the demo and tests allow loopback this way.
    public var egressAllow: [IPRange] = []
    /// How long runs, webhook payloads, audit entries and deleted records are kept.
    public var retention = RetentionPolicy()

    /// The transport every sync and read uses, behind this configuration's egress policy.
    public var transport: AsyncHTTPTransport { AsyncHTTPTransport(egress: egress) }
    /// The egress policy: the engine's requests and process connectors' (through their proxy).
    public var egress: EgressPolicy { EgressPolicy(allowed: egressAllow) }

    public init(
        databaseURL: DatabaseURL? = nil, databaseMaxConnections: Int = 20, dataDirectory: String = ".tributary",
        httpHost: String = "127.0.0.1", httpPort: Int = 8080, logLevel: Logger.Level = .info,
        shutdownGracePeriod: Duration = .seconds(10)
    ) {
        self.databaseURL = databaseURL
        self.databaseMaxConnections = databaseMaxConnections
        self.dataDirectory = dataDirectory
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.logLevel = logLevel
        self.shutdownGracePeriod = shutdownGracePeriod
    }

    /// One documented environment variable.
    public struct Variable: Sendable {
        public let name: String
        public let defaultValue: String
        public let meaning: String
    }

    public static let variables: [Variable] = [
        .init(name: "TRIBUTARY_DATABASE_URL", defaultValue: "(unset: embedded PostgreSQL)",
              meaning: "PostgreSQL URL, postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=disable|prefer|require|verify-full"),
        .init(name: "TRIBUTARY_VAULT_DATABASE_URL", defaultValue: "(unset: the main database; embedded: its own database)",
              meaning: "PostgreSQL URL of the vault database: wrapped keys, connection credentials, audit log (docs/vault.md)"),
        .init(name: "TRIBUTARY_DATABASE_MAX_CONNECTIONS", defaultValue: "20",
              meaning: "Connections each process may open to PostgreSQL"),
        .init(name: "TRIBUTARY_DATA_DIR", defaultValue: ".tributary",
              meaning: "Local folder for the embedded PostgreSQL cluster (pg/), its password and log"),
        .init(name: "TRIBUTARY_CONNECTOR_RUNTIMES_DIR", defaultValue: "(unset: DATA_DIR/connector-runtimes)",
              meaning: "Folder of the process connectors' Python environments, one per connector version, installed on first use"),
        .init(name: "TRIBUTARY_HTTP_ADDRESS", defaultValue: "127.0.0.1:8080",
              meaning: "HOST:PORT the api role listens on"),
        .init(name: "TRIBUTARY_LOG_LEVEL", defaultValue: "info",
              meaning: "trace, debug, info, notice, warning, error or critical"),
        .init(name: "TRIBUTARY_SHUTDOWN_GRACE_SECONDS", defaultValue: "10",
              meaning: "How long a stopping process lets in-flight work finish"),
        .init(name: "TRIBUTARY_MASTER_KEY_FILE", defaultValue: "(unset: DATA_DIR/master.key with the embedded database)",
              meaning: "File holding the key-encryption key (base64 of 32 bytes, mode 0600)"),
        .init(name: "TRIBUTARY_MASTER_KEY", defaultValue: "(unset)",
              meaning: "The key-encryption key itself, base64 of 32 bytes, when a file is not an option"),
        .init(name: "TRIBUTARY_API_AUTH_FAILURE_LIMIT", defaultValue: "10",
              meaning: "Requests a second with a missing or unknown API key allowed per client address, bursts of ten times that; over it, 429"),
        .init(name: "TRIBUTARY_TRUSTED_PROXIES", defaultValue: "(unset: none)",
              meaning: "Comma-separated CIDR ranges of load balancers whose X-Forwarded-For names the client"),
        .init(name: "TRIBUTARY_METRICS_TOKEN", defaultValue: "(unset: /metrics is open)",
              meaning: "A token of 16+ characters that /metrics then requires as `Authorization: Bearer TOKEN`"),
        .init(name: "TRIBUTARY_PREVIOUS_MASTER_KEY_FILES", defaultValue: "(unset)",
              meaning: "During a KEK rotation, comma-separated files of the previous keys, which still open what they wrapped"),
        .init(name: "TRIBUTARY_WORKER_QUEUES", defaultValue: "default:10,sync:4,maintenance:1",
              meaning: "Queues the worker role serves, NAME:CONCURRENT_JOBS, comma-separated"),
        .init(name: "TRIBUTARY_API_RATE_LIMIT", defaultValue: "50",
              meaning: "API requests a second allowed per API key, with bursts of twice that; over it, 429 with Retry-After"),
        .init(name: "TRIBUTARY_JOB_LEASE_SECONDS", defaultValue: "30",
              meaning: "How long a worker holds a job without a heartbeat before another worker takes it over"),
        .init(name: "TRIBUTARY_JOB_RETENTION_HOURS", defaultValue: "168",
              meaning: "How long finished jobs are kept for inspection before they are pruned"),
        .init(name: "TRIBUTARY_EGRESS_ALLOW", defaultValue: "(unset: none)",
              meaning: "Comma-separated CIDR ranges connectors may reach although private, loopback or link-local, e.g. 10.20.0.0/16"),
    ] + KMSSettings.variables + RetentionPolicy.variables.map { entry in
        .init(name: entry.name, defaultValue: "\(RetentionPolicy()[keyPath: entry.keyPath].components.seconds / 86_400)", meaning: entry.meaning)
    }

    /// Reads the environment; every bad variable is named in one error, none is echoed if secret.
    public static func fromEnvironment(_ environment: [String: String]) throws -> HubConfiguration {
        var configuration = HubConfiguration()
        var problems: [String] = []
        func value(_ name: String) -> String? {
            environment[name].flatMap { $0.isEmpty ? nil : $0 }
        }
        if let raw = value("TRIBUTARY_DATABASE_URL") {
            do {
                configuration.databaseURL = try DatabaseURL(parsing: raw)
            } catch let error as HubError {
                problems.append("TRIBUTARY_DATABASE_URL: \(error.message)")
            }
        }
        if let raw = value("TRIBUTARY_VAULT_DATABASE_URL") {
            do {
                let vault = try DatabaseURL(parsing: raw)
                if configuration.databaseURL == nil {
                    problems.append("TRIBUTARY_VAULT_DATABASE_URL: set TRIBUTARY_DATABASE_URL too (the embedded PostgreSQL makes its own vault)")
                } else if let main = configuration.databaseURL, main.host == vault.host, main.port == vault.port,
                          main.database == vault.database {
                    problems.append("TRIBUTARY_VAULT_DATABASE_URL: names the main database (\(vault.database) on \(vault.host)); the vault must be another database")
                } else {
                    configuration.vaultDatabaseURL = vault
                }
            } catch let error as HubError {
                problems.append("TRIBUTARY_VAULT_DATABASE_URL: \(error.message)")
            }
        }
        if let raw = value("TRIBUTARY_DATABASE_MAX_CONNECTIONS") {
            if let count = Int(raw), (1...1000).contains(count) {
                configuration.databaseMaxConnections = count
            } else {
                problems.append("TRIBUTARY_DATABASE_MAX_CONNECTIONS: '\(raw)' is not a number from 1 to 1000")
            }
        }
        if let raw = value("TRIBUTARY_DATA_DIR") { configuration.dataDirectory = raw }
        if let raw = value("TRIBUTARY_CONNECTOR_RUNTIMES_DIR") { configuration.connectorRuntimesDirectory = raw }
        if let raw = value("TRIBUTARY_HTTP_ADDRESS") {
            if let (host, port) = parseAddress(raw) {
                configuration.httpHost = host
                configuration.httpPort = port
            } else {
                problems.append("TRIBUTARY_HTTP_ADDRESS: '\(raw)' is not HOST:PORT with a port from 0 to 65535")
            }
        }
        if let raw = value("TRIBUTARY_LOG_LEVEL") {
            if let level = Logger.Level(rawValue: raw.lowercased()) {
                configuration.logLevel = level
            } else {
                problems.append("TRIBUTARY_LOG_LEVEL: '\(raw)' is not one of trace, debug, info, notice, warning, error, critical")
            }
        }
        if let raw = value("TRIBUTARY_SHUTDOWN_GRACE_SECONDS") {
            if let seconds = Int(raw), (0...3600).contains(seconds) {
                configuration.shutdownGracePeriod = .seconds(seconds)
            } else {
                problems.append("TRIBUTARY_SHUTDOWN_GRACE_SECONDS: '\(raw)' is not a number of seconds from 0 to 3600")
            }
        }
        if let raw = value("TRIBUTARY_MASTER_KEY") { configuration.masterKey = Secret(raw) }
        if let raw = value("TRIBUTARY_API_AUTH_FAILURE_LIMIT") {
            if let rate = Double(raw), rate >= 0.1, rate <= 100_000 {
                configuration.apiAuthFailureLimit = rate
            } else {
                problems.append("TRIBUTARY_API_AUTH_FAILURE_LIMIT: '\(raw)' is not a number of requests a second from 0.1 to 100000")
            }
        }
        if let raw = value("TRIBUTARY_TRUSTED_PROXIES") {
            let entries = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let ranges = entries.compactMap(IPRange.init)
            if ranges.count == entries.count {
                configuration.trustedProxies = ranges
            } else {
                problems.append("TRIBUTARY_TRUSTED_PROXIES: '\(raw)' is not a comma-separated list of IP addresses or CIDR ranges")
            }
        }
        if let raw = value("TRIBUTARY_METRICS_TOKEN") {
            // Never echoed: the problem names the variable and the rule only.
            if raw.count >= 16, raw.allSatisfy({ $0.isASCII && !$0.isWhitespace }) {
                configuration.metricsToken = Secret(raw)
            } else {
                problems.append("TRIBUTARY_METRICS_TOKEN: must be at least 16 printable ASCII characters without spaces")
            }
        }
        if let raw = value("TRIBUTARY_MASTER_KEY_FILE") { configuration.masterKeyFile = raw }
        if let raw = value("TRIBUTARY_PREVIOUS_MASTER_KEY_FILES") {
            configuration.previousMasterKeyFiles = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let raw = value("TRIBUTARY_WORKER_QUEUES") {
            let parsed = raw.split(separator: ",").map { entry -> (String, Int)? in
                let parts = entry.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty, let slots = Int(parts[1]), (1...10_000).contains(slots) else { return nil }
                return (parts[0], slots)
            }
            if parsed.isEmpty || parsed.contains(where: { $0 == nil }) {
                problems.append("TRIBUTARY_WORKER_QUEUES: '\(raw)' is not NAME:SLOTS[,NAME:SLOTS…] with slots from 1 to 10000")
            } else {
                configuration.workerQueues = parsed.compactMap { $0 }.map { (name: $0.0, slots: $0.1) }
            }
        }
        if let raw = value("TRIBUTARY_JOB_RETENTION_HOURS") {
            if let hours = Int(raw), (1...87_600).contains(hours) {
                configuration.jobRetention = .seconds(hours * 3600)
            } else {
                problems.append("TRIBUTARY_JOB_RETENTION_HOURS: '\(raw)' is not a number of hours from 1 to 87600")
            }
        }
        if let raw = value("TRIBUTARY_API_RATE_LIMIT") {
            if let rate = Double(raw), rate >= 0.1, rate <= 100_000 {
                configuration.apiRateLimit = rate
            } else {
                problems.append("TRIBUTARY_API_RATE_LIMIT: '\(raw)' is not a number of requests a second from 0.1 to 100000")
            }
        }
        if let raw = value("TRIBUTARY_SYNC_SCHEDULE_INTERVAL_SECONDS") {
            if let seconds = Int(raw), (1...3600).contains(seconds) {
                configuration.syncScheduleInterval = .seconds(seconds)
            } else {
                problems.append("TRIBUTARY_SYNC_SCHEDULE_INTERVAL_SECONDS: '\(raw)' is not a number of seconds from 1 to 3600")
            }
        }
        if let raw = value("TRIBUTARY_DATABASE_STATEMENT_TIMEOUT_SECONDS") {
            if let seconds = Int(raw), (0...86_400).contains(seconds) {
                configuration.databaseSessionLimits.statementTimeout = seconds == 0 ? nil : .seconds(seconds)
            } else {
                problems.append("TRIBUTARY_DATABASE_STATEMENT_TIMEOUT_SECONDS: '\(raw)' is not a number of seconds from 0 (no limit) to 86400")
            }
        }
        if let raw = value("TRIBUTARY_DATABASE_IDLE_TRANSACTION_TIMEOUT_SECONDS") {
            if let seconds = Int(raw), (0...3600).contains(seconds) {
                configuration.databaseSessionLimits.idleInTransactionTimeout = seconds == 0 ? nil : .seconds(seconds)
            } else {
                problems.append("TRIBUTARY_DATABASE_IDLE_TRANSACTION_TIMEOUT_SECONDS: '\(raw)' is not a number of seconds from 0 (no limit) to 3600")
            }
        }
        if let raw = value("TRIBUTARY_JOB_LEASE_SECONDS") {
            if let seconds = Int(raw), (3...3600).contains(seconds) {
                configuration.jobLease = .seconds(seconds)
            } else {
                problems.append("TRIBUTARY_JOB_LEASE_SECONDS: '\(raw)' is not a number of seconds from 3 to 3600")
            }
        }
        for entry in RetentionPolicy.variables {
            guard let raw = value(entry.name) else { continue }
            if let days = Int(raw), (1...36_500).contains(days) {
                configuration.retention[keyPath: entry.keyPath] = .seconds(days * 86_400)
            } else {
                problems.append("\(entry.name): '\(raw)' is not a number of days from 1 to 36500")
            }
        }
        if let raw = value(EgressPolicy.variable) {
            do {
                configuration.egressAllow = try EgressPolicy.parseAllowList(raw)
            } catch let error as HubError {
                problems.append(error.message)
            }
        }
        if configuration.masterKey != nil, configuration.masterKeyFile != nil {
            problems.append("TRIBUTARY_MASTER_KEY and TRIBUTARY_MASTER_KEY_FILE are both set; set one")
        }
        configuration.kms = KMSSettings.parse(value, problems: &problems)
        if configuration.kms != nil, configuration.masterKey != nil || configuration.masterKeyFile != nil {
            problems.append("TRIBUTARY_KMS_KEY_ID and a local master key are both set; set one (a local key being moved to KMS goes in TRIBUTARY_PREVIOUS_MASTER_KEY_FILES)")
        }
        guard problems.isEmpty else {
            throw HubError(.invalidConfiguration, "invalid configuration:\n  " + problems.joined(separator: "\n  "))
        }
        return configuration
    }

    /// `HOST:PORT`, with `[::1]:PORT` for IPv6.
    static func parseAddress(_ raw: String) -> (String, Int)? {
        guard let colon = raw.lastIndex(of: ":"), let port = Int(raw[raw.index(after: colon)...]), (0...65535).contains(port)
        else { return nil }
        var host = String(raw[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }
}
