import Foundation
import HubAirbyteProcess
import HubConnectors
import HubCore
import Logging
import Testing

/// A real Airbyte source from PyPI (airbyte-source-faker, pinned), installed into a virtual
/// environment of its own by `PythonEnvironments` and run through the protocol's four commands.
@Suite("Airbyte sources from PyPI")
struct PyPISourceTests {
    /// Kept between runs in the checkout (`.test-runtimes`, ignored by git): the first run
    /// installs (about 40 s), later ones reuse it.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".test-runtimes").path
    static let faker = try! ProcessRuntime(package: "airbyte-source-faker", version: "7.2.1", timeoutSeconds: 600, memoryMegabytes: 1_024)  // swiftlint:disable:this force_try

    @Test func fakerFromPyPIInstallsOnceAndSpeaksTheProtocol() async throws {
        let environments = PythonEnvironments(root: Self.root, logger: Logger(label: "test"))
        // Two processes needing the same version at once take turns; both get the same command.
        async let first = environments.command(for: Self.faker)
        async let second = environments.command(for: Self.faker)
        let (command, again) = try await (first, second)
        #expect(command == again)
        #expect(command.first?.hasSuffix("/airbyte-source-faker==7.2.1/bin/source-faker") == true)

        let source = ProcessSource(process: AirbyteProcess(command: command, limits: .init(Self.faker), logger: Logger(label: "test")))
        guard case .dict(let spec) = try await source.spec(), case .dict(let properties)? = spec["properties"] else {
            Issue.record("no properties in the spec"); return
        }
        #expect(properties["count"] != nil)
        var config = PyDict()
        config["count"] = .int(5)
        config["seed"] = .int(7)
        #expect(try await source.check(config: .dict(config)).succeeded)
        let discovered = try await source.discover(config: .dict(config))
        let catalog = ProcessSource.configuredCatalog(from: discovered, streams: ["users"])
        let messages = RunBox<[AirbyteMessage]>([])
        try await source.read(config: .dict(config), catalog: catalog, state: nil) { message in messages.update { $0.append(message) } }
        let users = messages.value.compactMap { message -> PyDict? in if case .record("users", .dict(let data)) = message { data } else { nil } }
        #expect(users.count == 5)
        #expect(users.allSatisfy { $0["id"] != nil && $0["email"] != nil })
        #expect(messages.value.contains { if case .state = $0 { true } else { false } })
        #expect(messages.value.contains(.streamStatus(stream: "users", status: "COMPLETE")))
    }

    @Test func aScriptThePackageDoesNotInstallIsNamedWithTheOnesItDoes() async throws {
        let wrong = try ProcessRuntime(package: "airbyte-source-faker", version: "7.2.1", entrypoint: "source-fakes")
        let error = await #expect(throws: HubError.self) {
            _ = try await PythonEnvironments(root: Self.root, logger: Logger(label: "test")).command(for: wrong)
        }
        #expect(error?.message.contains("installs no console script source-fakes") == true, "\(String(describing: error))")
        #expect(error?.message.contains("source-faker") == true)
    }

    @Test func aVersionPyPIDoesNotHaveFailsWithPipsReason() async throws {
        let missing = try ProcessRuntime(package: "airbyte-source-faker", version: "0.0.0.999")
        let error = await #expect(throws: HubError.self) {
            _ = try await PythonEnvironments(root: Self.root, logger: Logger(label: "test")).command(for: missing)
        }
        #expect(error?.message.contains("pip install airbyte-source-faker==0.0.0.999 failed") == true, "\(String(describing: error))")
        #expect(error?.message.contains("No matching distribution") == true, "\(String(describing: error))")
    }

    @Test func aRelativeRuntimesFolderIsTakenFromTheCurrentFolder() {
        let environments = PythonEnvironments(root: ".tributary/connector-runtimes", logger: Logger(label: "test"))
        #expect(environments.root == FileManager.default.currentDirectoryPath + "/.tributary/connector-runtimes")
    }

    @Test func namesThatWouldBeOptionsOrPathsAreRefused() {
        for (package, version, entrypoint) in [("--index-url=http://evil.example", "1.0", nil), ("airbyte-source-x", "1.0 --pre", nil),
                                              ("airbyte-source-x", ">=1.0", nil), ("../../etc", "1.0", nil),
                                              ("airbyte-source-x", "1.0", "../../bin/sh"), ("airbyte-source-x", "1.0", "-c"),
                                              ("airbyte-source-x\n", "1.0", nil), ("airbyte-source-x", "1.0\n", nil)] as [(String, String, String?)] {
            #expect(throws: ManifestError.self, "\(package) \(version) \(entrypoint ?? "")") {
                try ProcessRuntime(package: package, version: version, entrypoint: entrypoint)
            }
        }
    }

    @Test func hubYamlDeclaresTheRuntime() throws {
        let sidecar = try ConnectorSidecar(yaml: """
            credentials: [api_key]
            runtime:
              pypi: airbyte-source-faker==7.2.1
              timeout: PT30M
              memory_mb: 512
            """)
        #expect(sidecar.runtime == (try ProcessRuntime(package: "airbyte-source-faker", version: "7.2.1", timeoutSeconds: 1_800, memoryMegabytes: 512)))
        #expect(sidecar.runtime?.entrypoint == "source-faker")
        let unpinned = #expect(throws: ManifestProblems.self) { try ConnectorSidecar(yaml: "runtime: {pypi: airbyte-source-faker}") }
        #expect(unpinned.map { "\($0)" }?.contains("runtime.pypi: expected PACKAGE==VERSION") == true, "\(String(describing: unpinned))")
        let huge = #expect(throws: ManifestProblems.self) { try ConnectorSidecar(yaml: "runtime: {pypi: a==1, memory_mb: 999999}") }
        #expect(huge.map { "\($0)" }?.contains("runtime.memory_mb: must be from 128 to 65536") == true, "\(String(describing: huge))")
    }
}
