import Foundation
import HubApp
import HubCore
import HubDatabase
import HubStore
import Logging
import Testing

@Suite("Configuration from the environment")
struct ConfigurationTests {
    @Test func defaultsWhenNothingIsSet() throws {
        let configuration = try HubConfiguration.fromEnvironment([:])
        #expect(configuration.databaseURL == nil)
        #expect(configuration.httpHost == "127.0.0.1")
        #expect(configuration.httpPort == 8080)
        #expect(configuration.dataDirectory == ".tributary")
        #expect(configuration.logLevel == .info)
    }

    @Test func readsEveryVariable() throws {
        let configuration = try HubConfiguration.fromEnvironment([
            "TRIBUTARY_DATABASE_URL": "postgres://u:p@db:5433/hub?sslmode=disable",
            "TRIBUTARY_DATABASE_MAX_CONNECTIONS": "7",
            "TRIBUTARY_DATA_DIR": "/var/tmp/t",
            "TRIBUTARY_HTTP_ADDRESS": "[::1]:9000",
            "TRIBUTARY_LOG_LEVEL": "DEBUG",
            "TRIBUTARY_SHUTDOWN_GRACE_SECONDS": "3",
        ])
        #expect(configuration.databaseURL?.port == 5433)
        #expect(configuration.databaseMaxConnections == 7)
        #expect(configuration.dataDirectory == "/var/tmp/t")
        #expect(configuration.httpHost == "::1")
        #expect(configuration.httpPort == 9000)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.shutdownGracePeriod == .seconds(3))
    }

    @Test func everyBadVariableIsNamedAndNoSecretIsEchoed() {
        let error = #expect(throws: HubError.self) {
            try HubConfiguration.fromEnvironment([
                "TRIBUTARY_DATABASE_URL": "mysql://u:SECRET-MARKER@h/d",
                "TRIBUTARY_HTTP_ADDRESS": "localhost",
                "TRIBUTARY_LOG_LEVEL": "loud",
                "TRIBUTARY_DATABASE_MAX_CONNECTIONS": "0",
                "TRIBUTARY_SHUTDOWN_GRACE_SECONDS": "soon",
            ])
        }
        let message = error?.message ?? ""
        for name in ["TRIBUTARY_DATABASE_URL", "TRIBUTARY_HTTP_ADDRESS", "TRIBUTARY_LOG_LEVEL",
                     "TRIBUTARY_DATABASE_MAX_CONNECTIONS", "TRIBUTARY_SHUTDOWN_GRACE_SECONDS"] {
            #expect(message.contains(name), "\(name) not named in: \(message)")
        }
        #expect(!message.contains("SECRET-MARKER"))
    }

    /// The KMS settings: a region that could redirect the default endpoints is refused, and
    /// KMS beside a local key, or its settings without a key, are named.
    @Test func kmsSettingsAreChecked() throws {
        let configured = try HubConfiguration.fromEnvironment(["TRIBUTARY_KMS_KEY_ID": "alias/tributary", "AWS_REGION": "eu-west-1"])
        #expect(configured.kms?.keyID == "alias/tributary" && configured.kms?.region == "eu-west-1" && configured.kms?.endpoint == nil)
        for (environment, named) in [
            (["TRIBUTARY_KMS_KEY_ID": "k", "TRIBUTARY_KMS_REGION": "evil.example.com/x"], "is not a region name"),
            (["TRIBUTARY_KMS_KEY_ID": "k", "TRIBUTARY_KMS_REGION": "eu-west-1", "TRIBUTARY_MASTER_KEY": "x"], "both set"),
            (["TRIBUTARY_KMS_REGION": "eu-west-1"], "without TRIBUTARY_KMS_KEY_ID"),
            (["TRIBUTARY_KMS_KEY_ID": "k"], "without a region"),
        ] {
            let error = #expect(throws: HubError.self) { try HubConfiguration.fromEnvironment(environment) }
            #expect(error?.message.contains(named) == true, "\(String(describing: error))")
        }
    }

    @Test func everyVariableIsDocumented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/configuration.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        for variable in HubConfiguration.variables {
            #expect(text.contains("`\(variable.name)`"), "\(variable.name) missing from docs/configuration.md")
        }
    }
}
