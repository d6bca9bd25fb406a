import Foundation
import HubAirbyteProcess
import HubConnectors
import HubCore
import Logging
import Synchronization

/// `tributary connectors read` for a process connector: a folder whose `hub.yaml` declares a
/// `runtime` (an Airbyte source on PyPI) and holds no manifest.
struct ProcessConnectorRead {
    let runtime: ProcessRuntime
    /// The configuration's egress policy (`TRIBUTARY_EGRESS_ALLOW`), which the source's proxy checks.
    let egress: EgressPolicy

    /// The folder's runtime, when it is a process connector.
    static func runtime(at path: String) throws -> ProcessRuntime? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue,
              !FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("manifest.yaml")) else { return nil }
        let file = (path as NSString).appendingPathComponent("hub.yaml")
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        do {
            return try ConnectorSidecar(yaml: String(decoding: data, as: UTF8.self), source: file).runtime
        } catch let error as ManifestError {
            throw HubError(.invalidInput, "\(file): \(error)")
        } catch let error as ManifestProblems {
            throw HubError(.invalidInput, "\(file): \(error)")
        }
    }

    /// The installed source (installing it first, with a line on stderr, when needed).
    func source(runtimes: String, logger: Logger) async throws -> ProcessSource {
        let environments = PythonEnvironments(root: runtimes, egress: egress, logger: logger)
        if !environments.isInstalled(runtime) {
            FileHandle.standardError.write(Data("installing \(runtime.requirement) into \(runtimes) (once per version; pip takes a minute)…\n".utf8))
        }
        let command = try await environments.command(for: runtime)
        return ProcessSource(process: AirbyteProcess(command: command, limits: .init(runtime), egress: egress, logger: logger))
    }

    /// Installs the source if needed, discovers its streams unless a catalog is given, reads,
    /// and prints each message as a protocol line. Returns the number of streams that failed.
    func run(config: PyValue, catalog: PyValue?, state: PyValue?, streams: [String]?, runtimes: String, logger: Logger) async throws -> Int {
        let source = try await source(runtimes: runtimes, logger: logger)
        var configured = catalog ?? .none
        if catalog == nil {
            configured = ProcessSource.configuredCatalog(from: try await source.discover(config: config), streams: streams)
        }
        let output = FileHandle.standardOutput
        let failed = FailedStreams()
        do {
            try await source.read(config: config, catalog: configured, state: state) { message in
                if case .error(_, let stream, _) = message { failed.add(stream ?? "") }
                if case .streamStatus(let stream, "INCOMPLETE") = message { failed.add(stream) }
                let emitted = Int64(Date().timeIntervalSince1970 * 1000)
                output.write(Data((message.line(emittedAt: emitted) + "\n").utf8))
            }
        } catch let failure as ConnectorProcessFailure {
            FileHandle.standardError.write(Data("\(failure)\n".utf8))
            return max(1, failed.count)
        }
        return failed.count
    }

    /// Streams that reported a failure, counted once each.
    final class FailedStreams: Sendable {
        private let names = Mutex<Set<String>>([])
        func add(_ name: String) { names.withLock { _ = $0.insert(name) } }
        var count: Int { names.withLock { $0.count } }
    }
}
