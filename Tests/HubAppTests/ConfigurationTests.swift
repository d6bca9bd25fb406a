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

    @Test func everyVariableIsDocumented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/configuration.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        for variable in HubConfiguration.variables {
            #expect(text.contains("`\(variable.name)`"), "\(variable.name) missing from docs/configuration.md")
        }
    }
}
