/// The error every Tributary module throws: a stable code for machines, a safe message for people.
///
/// `message` is shown to users and written to logs, so it never holds SQL, payloads or secrets.
/// `detail` may hold more context for operators (a file name, a driver's error code) under the
/// same rule: nothing secret goes in either.
public struct HubError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: Code
    public let message: String
    public let detail: String?

    public init(_ code: Code, _ message: String, detail: String? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
    }

    public var description: String {
        if let detail { return "\(message) (\(detail))" }
        return message
    }
}

extension HubError {
    /// A stable, documented error code; API responses and CLI exit paths switch on it. An enum,
    /// so that every switch over it (the API's status for each) names every code: a new one
    /// cannot silently become a 500.
    public enum Code: String, Sendable, CaseIterable, CustomStringConvertible {
        case invalidConfiguration = "invalid_configuration"
        case invalidInput = "invalid_input"
        case notFound = "not_found"
        case conflict = "conflict"
        case databaseUnavailable = "database_unavailable"
        case databaseError = "database_error"
        /// A stored value (a connection's config, a record, a state) is not what was written:
        /// never replaced by a default, since that would lose or overwrite data silently.
        case storedDataInvalid = "stored_data_invalid"
        case schemaOutOfDate = "schema_out_of_date"
        case schemaTooNew = "schema_too_new"
        case migrationChecksumMismatch = "migration_checksum_mismatch"
        case migrationFailed = "migration_failed"
        case embeddedPostgres = "embedded_postgres"
        case postgresNotInstalled = "postgres_not_installed"
        case keyUnavailable = "key_unavailable"
        case decryptionFailed = "decryption_failed"
        case keyShredded = "key_shredded"
        case keyRetirementBlocked = "key_retirement_blocked"
        case internalError = "internal_error"

        // The API's own codes: what a request got wrong before any domain code ran.
        case unauthorized = "unauthorized"
        case forbidden = "forbidden"
        case invalidRequest = "invalid_request"
        case invalidConfig = "invalid_config"
        case invalidConnector = "invalid_connector"
        case invalidModel = "invalid_model"
        case methodNotAllowed = "method_not_allowed"
        case payloadTooLarge = "payload_too_large"
        case rateLimited = "rate_limited"
        case webhookRejected = "webhook_rejected"
        case httpError = "http_error"

        public var description: String { rawValue }
    }
}
