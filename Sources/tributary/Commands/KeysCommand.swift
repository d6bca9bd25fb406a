import ArgumentParser
import Foundation
import HubApp
import HubCore
import HubCrypto
import HubStore

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage encryption keys: the key-encryption key and tenants' data keys.",
        discussion: """
            Rotation in three steps: `keys rotate` (new writes use a new data key), `keys reencrypt`
            (moves older ciphertexts, resumable), `keys retire --below N` (old versions stop working).
            docs/encryption.md describes the key hierarchy and the ciphertext format.
            """,
        subcommands: [
            KeysInitCommand.self, KeysStatusCommand.self, KeysRotateCommand.self, KeysReencryptCommand.self,
            KeysRetireCommand.self, KeysRewrapCommand.self,
        ]
    )
}

/// `--tenant ID`, parsed and checked as a tenant id.
struct TenantOption: ParsableArguments {
    @Option(name: .customLong("tenant"), help: "A tenant id (default: every tenant).")
    var raw: String?

    var tenant: TenantID? {
        get throws {
            guard let raw else { return nil }
            guard let id = TenantID(raw) else { throw ValidationError("--tenant '\(raw)' is not a tenant id (a UUID)") }
            return id
        }
    }

    func validate() throws { _ = try tenant }
}

extension StoreContext {
    /// The one tenant asked for, or every tenant that has keys.
    func tenantsToProcess(_ only: TenantID?) async throws -> [TenantID] {
        if let only { return [only] }
        return try await keys.tenantsWithKeys()
    }
}

struct KeysInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a new key-encryption key to a file (mode 0600); the key is never printed.",
        discussion: """
            Examples:
              tributary keys init                       # TRIBUTARY_MASTER_KEY_FILE, or DATA_DIR/master.key
              tributary keys init --file /etc/tributary/master.key
            """
    )

    @Option(help: "Where to write the key.")
    var file: String?

    @Flag(help: "Replace an existing key (everything encrypted under it becomes unreadable).")
    var force = false

    func run() async throws {
        let configuration = try CommandEnvironment.configuration()
        let path = file ?? configuration.masterKeyFile ?? MasterKey.defaultFile(configuration)
        let key = try MasterKey.write(to: path, force: force)
        print("wrote a new key-encryption key to \(path) (key id \(key.keyID))")
        print("keep a copy apart from the database: without it nothing encrypted under it can be read")
    }
}

struct KeysStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the key-encryption key id, each tenant's key versions and the rows under each.",
        discussion: "Examples:\n  tributary keys status\n  tributary keys status --tenant 6f1c… --json"
    )

    @OptionGroup var tenantOption: TenantOption
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let tenant = try tenantOption.tenant
        let (kekID, rows) = try await CommandEnvironment.withStore { store in
            (store.keyring.kek.keyID, try await store.keys.status(tenant: tenant))
        }
        if json {
            struct Row: Encodable {
                let tenant: String, purpose: String, version: Int, state: String, kekId: String, records: Int, connections: Int
            }
            struct Output: Encodable { let kekId: String; let keys: [Row] }
            let output = Output(
                kekId: kekID,
                keys: rows.map {
                    Row(tenant: $0.tenant.description, purpose: $0.purpose.rawValue, version: $0.version, state: $0.state.rawValue,
                        kekId: $0.kekID, records: $0.records, connections: $0.connections)
                }
            )
            print(try CLIOutput.json(output))
            return
        }
        print("key-encryption key: \(kekID)")
        guard !rows.isEmpty else {
            print("no tenant has keys yet")
            return
        }
        print(CLIOutput.table(
            header: ["TENANT", "KEY", "STATE", "RECORDS", "CONNECTIONS"],
            rows: rows.map {
                [$0.tenant.description, "\($0.purpose.rawValue) v\($0.version)", $0.state.rawValue,
                 $0.purpose == .data ? "\($0.records)" : "-", $0.purpose == .data ? "\($0.connections)" : "-"]
            }
        ))
    }
}

struct KeysRotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Give tenants a new data key version for every new write.",
        discussion: "Older versions keep decrypting until retired; run `tributary keys reencrypt` next.\n\nExamples:\n  tributary keys rotate\n  tributary keys rotate --tenant 6f1c…"
    )

    @OptionGroup var tenantOption: TenantOption

    func run() async throws {
        let only = try tenantOption.tenant
        try await CommandEnvironment.withStore { store in
            let tenants = try await store.tenantsToProcess(only)
            if tenants.isEmpty { print("no tenant has keys yet: nothing to rotate") }
            for tenant in tenants {
                _ = try await store.tenants.get(tenant)
                let version = try await store.keyring.rotate(tenant)
                let older = try await store.keys.countBelow(tenant: tenant, version: version)
                print("tenant \(tenant): data key v\(version) now seals new writes; \(older) rows under older versions")
            }
            if !tenants.isEmpty { print("next: `tributary keys reencrypt` moves older rows to the new keys") }
        }
    }
}

struct KeysReencryptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reencrypt",
        abstract: "Move every ciphertext under an older data key to the tenant's newest one.",
        discussion: "One batch per transaction: stopping at any point loses nothing, and running it again resumes.\n\nExamples:\n  tributary keys reencrypt\n  tributary keys reencrypt --tenant 6f1c… --batch-size 1000"
    )

    @OptionGroup var tenantOption: TenantOption
    @Option(help: "Rows per transaction.") var batchSize = 500

    func validate() throws {
        guard (1...100_000).contains(batchSize) else { throw ValidationError("--batch-size must be from 1 to 100000") }
    }

    func run() async throws {
        let only = try tenantOption.tenant
        try await CommandEnvironment.withStore { store in
            let tenants = try await store.tenantsToProcess(only)
            var total = 0
            for tenant in tenants {
                let reporter = ProgressReporter()
                total += try await store.keys.reencrypt(tenant: tenant, batchSize: batchSize) { progress in
                    reporter.report(
                        "tenant \(progress.tenant): \(progress.moved) moved to v\(progress.targetVersion), \(progress.remaining) remaining",
                        final: progress.remaining == 0
                    )
                }
            }
            print("done: \(total) rows re-encrypted; none remain under older keys")
        }
    }
}

struct KeysRetireCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retire",
        abstract: "Retire data key versions below VERSION; refused while any row still uses one.",
        discussion: "Examples:\n  tributary keys retire --below 3\n  tributary keys retire --below 2 --tenant 6f1c…"
    )

    @Option(help: "Retire every version lower than this one.") var below: Int
    @OptionGroup var tenantOption: TenantOption

    func validate() throws {
        guard below >= 2 else { throw ValidationError("--below must be 2 or more (version 1 is the first there is)") }
    }

    func run() async throws {
        let only = try tenantOption.tenant
        try await CommandEnvironment.withStore { store in
            let tenants = try await store.tenantsToProcess(only)
            for tenant in tenants {
                let retired = try await store.keys.retire(tenant: tenant, below: below)
                let list = retired.isEmpty ? "nothing to retire" : "retired " + retired.map { "v\($0)" }.joined(separator: ", ")
                print("tenant \(tenant): \(list)")
            }
        }
    }
}

struct KeysRewrapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewrap",
        abstract: "Rotate the key-encryption key: rewrap every tenant key under a new one (data untouched).",
        discussion: """
            Without downtime: create the new key, make it current everywhere with the old one
            still configured as previous, rewrap, then drop the old one:
              tributary keys init --file /etc/tributary/master-2.key
              TRIBUTARY_MASTER_KEY_FILE=/etc/tributary/master-2.key
              TRIBUTARY_PREVIOUS_MASTER_KEY_FILES=/etc/tributary/master.key   (restart every process)
              tributary keys rewrap
              unset TRIBUTARY_PREVIOUS_MASTER_KEY_FILES                        (restart again)
            Or in one step, while nothing else runs: tributary keys rewrap --new-key-file FILE,
            then configure FILE. A rerun moves only what is not yet under the target key.
            """
    )

    @Option(help: "File holding the key to rewrap under (default: the configured current key).") var newKeyFile: String?

    func run() async throws {
        let newKEK = try newKeyFile.map(LocalKeyEncryptionKey.init(contentsOfFile:))
        try await CommandEnvironment.withStore { store in
            let count = try await store.keys.rewrap(to: newKEK)
            let target = newKEK?.keyID ?? store.keyring.kek.keyID
            print("rewrapped \(count) keys under key-encryption key \(target)")
            if let newKeyFile {
                print("now configure it: TRIBUTARY_MASTER_KEY_FILE=\(newKeyFile); the old key no longer opens anything")
            } else {
                print("every key is under the current key-encryption key; TRIBUTARY_PREVIOUS_MASTER_KEY_FILES can be unset")
            }
        }
    }
}
