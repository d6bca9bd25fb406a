import HubCore
import Logging
import PostgresNIO

extension PostgresClient {
    /// Runs `body` with a running client, then shuts the client down: for one-shot commands
    /// and tests. Long-running roles run the client as a service in their service group.
    public static func withRunning<T>(
        _ url: DatabaseURL, maximumConnections: Int = 10, logger: Logger,
        isolation: isolated (any Actor)? = #isolation, _ body: (PostgresClient) async throws -> T
    ) async throws -> T {
        try await DatabaseProbe.check(url, logger: logger)
        let client = PostgresClient(
            configuration: url.clientConfiguration(maximumConnections: maximumConnections), backgroundLogger: logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            await client.startRunning(in: &group)
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// Adds `run()` to `group` and returns once it has begun, so that the first query doesn't
    /// race the pool's start (the client warns about queries issued before `run()`).
    public func startRunning(in group: inout ThrowingTaskGroup<Void, any Error>) async {
        let (started, signal) = AsyncStream<Void>.makeStream()
        group.addTask {
            signal.finish()
            // run() marks the client running synchronously on entry, before its first suspension.
            await self.run()
        }
        for await _ in started {}
    }
}

/// Server-level chores outside any one database's schema.
public enum DatabaseAdmin {
    /// Creates the database unless it exists. `name` is an identifier we control, checked here.
    public static func createDatabaseIfMissing(_ name: String, template: String? = nil, on client: PostgresClient, logger: Logger)
        async throws
    {
        for identifier in [name] + (template.map { [$0] } ?? []) {
            guard isPlainIdentifier(identifier) else {
                throw HubError(.invalidConfiguration, "database name '\(identifier)' must be lower-case letters, digits and underscores")
            }
        }
        try await withDatabaseErrors("creating database \(name)") {
            let rows = try await client.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: logger)
            for try await _ in rows { return }
            let templateClause = template.map { " TEMPLATE \($0)" } ?? ""
            do {
                try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)\(templateClause)"), logger: logger)
            } catch let error as PSQLError where error.sqlState == "42P04" {
                // Created by a concurrent process between our check and our CREATE: fine.
            }
        }
    }

    public static func dropDatabase(_ name: String, on client: PostgresClient, logger: Logger) async throws {
        guard isPlainIdentifier(name) else {
            throw HubError(.invalidConfiguration, "database name '\(name)' must be lower-case letters, digits and underscores")
        }
        try await withDatabaseErrors("dropping database \(name)") {
            _ = try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
        }
    }

    /// Creates (when missing) a login role and a database it owns that no other role may
    /// connect to: `CONNECT` is revoked from `PUBLIC`, so only its owner and superusers reach
    /// it. The role's password is set again on every call, so a rewritten password file wins.
    /// `password` must be letters and digits only: it is spliced into the statement, because
    /// PostgreSQL takes no parameters in `ALTER ROLE`.
    public static func createPrivateDatabase(
        _ name: String, owner: String, password: Secret<String>, on client: PostgresClient, logger: Logger
    ) async throws {
        for identifier in [name, owner] where !isPlainIdentifier(identifier) {
            throw HubError(.invalidConfiguration, "'\(identifier)' must be lower-case letters, digits and underscores")
        }
        guard !password.revealed.isEmpty, password.revealed.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw HubError(.invalidConfiguration, "the password of role \(owner) must be ASCII letters and digits")
        }
        try await withDatabaseErrors("creating database \(name) for role \(owner)") {
            let exists = try await client.query("SELECT 1 FROM pg_roles WHERE rolname = \(owner)", logger: logger)
            var found = false
            for try await _ in exists { found = true }
            if !found {
                do {
                    try await client.query(PostgresQuery(unsafeSQL: "CREATE ROLE \(owner) LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"), logger: logger)
                } catch let error as PSQLError where error.sqlState == "42710" {
                    // Created by a concurrent process between our check and our CREATE.
                }
            }
            try await client.query(PostgresQuery(unsafeSQL: "ALTER ROLE \(owner) PASSWORD '\(password.revealed)'"), logger: logger)
        }
        try await createDatabaseIfMissing(name, on: client, logger: logger)
        try await withDatabaseErrors("limiting database \(name) to role \(owner)") {
            try await client.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(name) OWNER TO \(owner)"), logger: logger)
            try await client.query(PostgresQuery(unsafeSQL: "REVOKE CONNECT, TEMPORARY ON DATABASE \(name) FROM PUBLIC"), logger: logger)
        }
    }

    static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.first, first == "_" || ("a"..."z").contains(first), name.count <= 63 else { return false }
        return name.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }
}
