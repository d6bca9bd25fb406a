import ArgumentParser
import CoreMetrics
import Foundation
import HubApp
import HubCore
import Logging
import Prometheus

/// What every command starts from: the configuration read from the environment, and logging.
enum CommandEnvironment {
    /// Reads the configuration; a bad variable is a usage error (exit 2) naming every problem.
    static func configuration() throws -> HubConfiguration {
        do {
            return try HubConfiguration.fromEnvironment(ProcessInfo.processInfo.environment)
        } catch let error as HubError {
            throw ValidationError(error.message)
        }
    }

    /// Servers log JSON lines to stdout; one-shot commands keep stdout for their output and
    /// log warnings and worse to stderr, unless TRIBUTARY_LOG_LEVEL asks for more.
    static func bootstrapLogging(_ configuration: HubConfiguration, server: Bool) -> Logger {
        let explicitLevel = ProcessInfo.processInfo.environment["TRIBUTARY_LOG_LEVEL"] != nil
        let level: Logger.Level = server || explicitLevel ? configuration.logLevel : .warning
        let output: JSONLogOutput = server ? .standardOutput : .standardError
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level, output: output) }
        // Once per process, like logging: what the queue records is served at the api's /metrics.
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: HubRuntime.metrics))
        var logger = Logger(label: "tributary")
        logger.logLevel = level
        return logger
    }

    /// The preamble of every operator command that works on the store: configuration,
    /// logging to stderr, a client on a current schema and the keyring.
    /// `secrets: false` for commands that never touch a key, credential or audit entry (the
    /// queue's): they run without the vault database, as the scheduler role does.
    static func withStore<T>(secrets: Bool = true, _ body: (StoreContext) async throws -> T) async throws -> T {
        var configuration = try configuration()
        if !secrets { configuration.vaultDatabaseURL = nil }
        let logger = bootstrapLogging(configuration, server: false)
        return try await HubRuntime.withStore(configuration, secrets: secrets, logger: logger, body)
    }
}
