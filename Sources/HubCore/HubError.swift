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
    /// A stable, documented error code; API responses and CLI exit paths switch on it.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidConfiguration = Code(rawValue: "invalid_configuration")
        public static let invalidInput = Code(rawValue: "invalid_input")
        public static let notFound = Code(rawValue: "not_found")
        public static let conflict = Code(rawValue: "conflict")
        public static let databaseUnavailable = Code(rawValue: "database_unavailable")
        public static let databaseError = Code(rawValue: "database_error")
        public static let schemaOutOfDate = Code(rawValue: "schema_out_of_date")
        public static let schemaTooNew = Code(rawValue: "schema_too_new")
        public static let migrationChecksumMismatch = Code(rawValue: "migration_checksum_mismatch")
        public static let migrationFailed = Code(rawValue: "migration_failed")
        public static let embeddedPostgres = Code(rawValue: "embedded_postgres")
        public static let postgresNotInstalled = Code(rawValue: "postgres_not_installed")
        public static let keyUnavailable = Code(rawValue: "key_unavailable")
        public static let decryptionFailed = Code(rawValue: "decryption_failed")
        public static let keyShredded = Code(rawValue: "key_shredded")
        public static let keyRetirementBlocked = Code(rawValue: "key_retirement_blocked")
        public static let internalError = Code(rawValue: "internal_error")
    }
}
