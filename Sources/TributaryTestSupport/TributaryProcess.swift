import Foundation

/// The built `tributary` binary run as a real child process, for tests of what only a
/// process shows: exit codes, signals, crashes, several processes at once.
public final class TributaryProcess {
    public let process = Process()
    private let stdoutPath: String
    private let stderrPath: String

    /// `TRIBUTARY_BIN`, or the `tributary` built beside the running test bundle.
    public static var binaryPath: String {
        if let configured = ProcessInfo.processInfo.environment["TRIBUTARY_BIN"] { return configured }
        return builtExecutable("tributary")
    }

    /// An executable product built beside the running test bundle.
    public static func builtExecutable(_ name: String) -> String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // On macOS the test binary sits inside an .xctest bundle.
        while directory.path.contains(".xctest") { directory.deleteLastPathComponent() }
        return directory.appendingPathComponent(name).path
    }

    /// Starts `tributary arguments…` with the test process's environment minus every
    /// TRIBUTARY_* variable, plus `environment`.
    public init(
        _ arguments: [String], environment: [String: String] = [:], directory: String? = nil, launcher: [String] = [],
        executable: String? = nil, standardInput: String? = nil
    ) throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tributary-proc-\(UUID().uuidString)")
        stdoutPath = scratch.path + ".out"
        stderrPath = scratch.path + ".err"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        var merged = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TRIBUTARY_") }
        merged.merge(environment) { $1 }
        if let launcherPath = launcher.first {
            process.executableURL = URL(fileURLWithPath: launcherPath)
            process.arguments = Array(launcher.dropFirst()) + [Self.binaryPath] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable ?? Self.binaryPath)
            process.arguments = arguments
        }
        process.environment = merged
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        if let standardInput {
            // Through a 0600 file, as a user would pipe a secret in; removed once the child has it open.
            let inputPath = scratch.path + ".in"
            _ = FileManager.default.createFile(atPath: inputPath, contents: Data(standardInput.utf8), attributes: [.posixPermissions: 0o600])
            process.standardInput = FileHandle(forReadingAtPath: inputPath)
            defer { try? FileManager.default.removeItem(atPath: inputPath) }
            try process.run()
            return
        }
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        // A child reaped here may have a successor with the same pid: never signal it.
        if reaped == nil, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: stdoutPath)
        try? FileManager.default.removeItem(atPath: stderrPath)
    }

    public var pid: Int32 { process.processIdentifier }
    public var standardOutput: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var standardError: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    public func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// The exit code, or nil if the process still runs after `timeout`.
    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let reaped { return reaped }
            if !process.isRunning { return process.terminationStatus }
            // swift-corelibs-foundation now and then misses a child's exit and leaves it a zombie
            // with `isRunning` true for good (seen here: exited, State Z, 30 s later). A zombie has
            // exited, so reap it here; if Foundation got there first, `isRunning` turns false.
            if Self.isZombie(pid) {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    let signal = status & 0x7f
                    reaped = signal == 0 ? (status >> 8) & 0xff : signal
                    return reaped
                }
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return reaped ?? (process.isRunning ? nil : process.terminationStatus)
    }

    /// Set when `waitForExit` reaped the child itself.
    private var reaped: Int32?

    static func isZombie(_ pid: Int32) -> Bool {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.contains("State:\tZ")
    }

    /// Runs to completion and returns exit code and output.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], directory: String? = nil, launcher: [String] = [],
        timeout: Duration = .seconds(60), standardInput: String? = nil
    ) async throws -> (status: Int32?, stdout: String, stderr: String) {
        let child = try TributaryProcess(arguments, environment: environment, directory: directory, launcher: launcher,
                                         standardInput: standardInput)
        let status = await child.waitForExit(timeout: timeout)
        return (status, child.standardOutput, child.standardError)
    }
}
