import Foundation
import HubConnectors
import HubCore
import Logging
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One Python virtual environment per process connector version, under a folder of their own
/// (the data folder, or one shared by the workers of a machine), installed once and reused.
///
/// Installing is safe to race: processes that need the same version take turns on a lock
/// file, and an environment counts only once a marker is written after pip succeeded, so a
/// crash halfway leaves a folder the next install replaces.
public struct PythonEnvironments: ProcessCommandResolver {
    public let root: String
    /// Checked on every request of the sources run from here.
    public let egress: EgressPolicy?
    let logger: Logger
    /// How long a process waits for another one installing the same version.
    static let lockWait: Duration = .seconds(1_800)

    /// A relative `root` (the default data folder is `.tributary`) is taken from the current
    /// folder now: pip and venv run in `root`, where a relative path would nest it in itself.
    public init(root: String, egress: EgressPolicy? = nil, logger: Logger) {
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
        self.egress = egress
        self.logger = logger
    }

    /// `package==version`, lower-cased: `==` can't be part of either, so two pins never share
    /// a folder (`foo-1` 2 and `foo` 1-2 would, joined by a dash).
    static func folderName(_ runtime: ProcessRuntime) -> String { "\(runtime.package.lowercased())==\(runtime.version)" }

    /// Whether the runtime's version is installed here already.
    public func isInstalled(_ runtime: ProcessRuntime) -> Bool {
        FileManager.default.fileExists(atPath: "\(root)/\(Self.folderName(runtime))/.tributary-installed")
    }

    /// The command that starts the runtime's source, installing it first when needed.
    public func command(for runtime: ProcessRuntime) async throws -> [String] {
        let folder = "\(root)/\(Self.folderName(runtime))"
        let script = "\(folder)/bin/\(runtime.entrypoint)"
        let marker = "\(folder)/.tributary-installed"
        if FileManager.default.fileExists(atPath: marker) { return try Self.found(script, runtime: runtime, in: folder) }
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw HubError(.invalidConfiguration, "cannot make the connector runtime folder \(root): \(error.localizedDescription)")
        }
        let lock = try await Self.lock("\(folder).lock", logger: logger, what: runtime.requirement)
        defer { flock(lock, LOCK_UN); close(lock) }
        if FileManager.default.fileExists(atPath: marker) { return try Self.found(script, runtime: runtime, in: folder) }
        try? FileManager.default.removeItem(atPath: folder)
        let started = ContinuousClock.now
        logger.notice("installing a process connector (once per version)", metadata: [
            "hub.connector.package": "\(runtime.requirement)", "hub.connector.folder": "\(folder)",
        ])
        try await install(runtime, into: folder)
        try Data(runtime.requirement.utf8).write(to: URL(fileURLWithPath: marker))
        logger.notice("installed a process connector", metadata: [
            "hub.connector.package": "\(runtime.requirement)", "hub.connector.seconds": "\((ContinuousClock.now - started).components.seconds)",
        ])
        return try Self.found(script, runtime: runtime, in: folder)
    }

    /// The script's command, or an error naming the scripts the package does install.
    private static func found(_ script: String, runtime: ProcessRuntime, in folder: String) throws -> [String] {
        guard FileManager.default.isExecutableFile(atPath: script) else {
            let scripts = ((try? FileManager.default.contentsOfDirectory(atPath: "\(folder)/bin")) ?? [])
                .filter { !$0.hasPrefix("python") && !$0.hasPrefix("pip") && !$0.hasPrefix("activate") && !$0.hasPrefix("Activate") }
            throw HubError(.invalidConnector, "\(runtime.requirement) installs no console script \(runtime.entrypoint); set runtime.entrypoint "
                           + "to one of: \(scripts.sorted().joined(separator: ", "))")
        }
        return [script]
    }

    private func install(_ runtime: ProcessRuntime, into folder: String) async throws {
        // pip runs the build steps of what it installs: it gets no more of our environment
        // than finding an index needs, never the worker's database URLs or keys.
        var environment: [Environment.Key: String] = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": root, "LANG": "C.UTF-8"]
        for (key, value) in ProcessInfo.processInfo.environment
        where key.hasPrefix("PIP_") || ["http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                                         "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"].contains(key) {
            environment[Environment.Key(stringLiteral: key)] = value
        }
        try await step(.name("python3"), ["-m", "venv", folder], environment, what: "python3 -m venv")
        try await step(.path(FilePath("\(folder)/bin/pip")),
                       ["install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off", runtime.requirement],
                       environment, what: "pip install \(runtime.requirement)")
    }

    /// Runs one install step, logging its progress lines; a failure carries the end of its output.
    private func step(_ executable: Executable, _ arguments: [String], _ environment: [Environment.Key: String], what: String) async throws {
        let logger = self.logger
        let tail = RunMonitor.Shared<[String]>([])
        let outcome = try await Subprocess.run(
            executable, arguments: Arguments(arguments), environment: .custom(environment), workingDirectory: FilePath(root),
            input: .none, output: .sequence, error: .combinedWithOutput
        ) { execution in
            var lines = LineSplitter(maxLineBytes: 8 << 10, truncating: true)
            for try await buffer in execution.standardOutput {
                for line in buffer.withUnsafeBytes({ (try? lines.append($0)) ?? [] }) {
                    let text = String(decoding: line, as: UTF8.self)
                    tail.withLock { $0 = Array(($0 + [text]).suffix(20)) }
                    if text.hasPrefix("Collecting ") || text.hasPrefix("Installing ") || text.hasPrefix("Successfully ") {
                        logger.info("\(text)", metadata: ["hub.connector.install": "\(what)"])
                    }
                }
            }
        }
        guard outcome.terminationStatus.isSuccess else {
            throw HubError(.invalidConnector, "\(what) failed (\(outcome.terminationStatus)):\n" + tail.withLock { $0 }.joined(separator: "\n"))
        }
    }

    /// Takes the install lock of one version, waiting for another process holding it.
    private static func lock(_ path: String, logger: Logger, what: String) async throws -> Int32 {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw HubError(.invalidConfiguration, "cannot open \(path): \(String(cString: strerror(errno)))") }
        let deadline = ContinuousClock.now + lockWait
        var announced = false
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard ContinuousClock.now < deadline else {
                close(descriptor)
                throw HubError(.conflict, "another process has been installing \(what) for \(lockWait); remove \(path) if none is")
            }
            if !announced {
                logger.notice("waiting for another process installing the same connector", metadata: ["hub.connector.package": "\(what)"])
                announced = true
            }
            do {
                try await Task.sleep(for: .milliseconds(500))
            } catch {
                close(descriptor)
                throw error
            }
        }
        return descriptor
    }
}

/// Where a worker gets the command of a process connector's version.
public protocol ProcessCommandResolver: Sendable {
    func command(for runtime: ProcessRuntime) async throws -> [String]
    /// The policy the sources' requests are checked against (through `EgressProxy`).
    var egress: EgressPolicy? { get }
}

extension ProcessCommandResolver {
    public var egress: EgressPolicy? { nil }
}
