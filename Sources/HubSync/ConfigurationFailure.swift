import HubAirbyteProcess
import HubConnectors
import HubQueue

/// A sync failure only the user can fix: the API refused the credentials (a 401 or 403 the
/// manifest did not handle, or a filter's `failure_type: config_error`), a process source
/// reported a `config_error`, or the manifest refuses the connection's config (a config
/// validation, a stream whose ConditionalStreams condition is false). Retrying it with backoff would only repeat the refusal (and may
/// lock the account at the third party), so the job is discarded at once with the error; the
/// next scheduled sync, or a retry by hand once the config is fixed, runs it again.
struct ConfigurationFailure: FinalJobFailure, CustomStringConvertible {
    let underlying: any Error

    var description: String { String(describing: underlying) }

    /// The error a failed sync job throws: wrapped when it is the user's to fix.
    static func classify(_ error: any Error) -> any Error {
        switch error {
        case let failure as RequestFailure where failure.isConfigurationError: ConfigurationFailure(underlying: failure)
        case let failure as ConnectorProcessFailure where failure.isConfigurationError: ConfigurationFailure(underlying: failure)
        case let refusal as ConfigRefusal: ConfigurationFailure(underlying: refusal)
        default: error
        }
    }
}

/// The manifest refuses the connection's config for this stream: its message says why.
struct ConfigRefusal: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
