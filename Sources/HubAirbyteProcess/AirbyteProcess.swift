import CProcessShims
import Foundation
import HubConnectors
import HubCore
import Logging
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Runs one Airbyte protocol command (`spec`, `check`, `discover`, `read`) of a source as a
/// child process, and hands each line of its output on as a checked `AirbyteMessage`.
///
/// What the source is given, and nothing more:
/// - its config, catalog and state as files in a folder of its own, readable only by this
///   user, removed when the run ends whatever happened: never on its command line, never in an
///   environment variable;
/// - a scrubbed environment (`PATH`, `HOME` and `TMPDIR` in that folder, the locale): none of
///   the worker's own settings, database URLs or keys;
/// - a process group of its own, ended as a whole (TERM, then KILL after the grace period)
///   when the run is cancelled, times out or its reader fails, children included;
/// - a data-segment limit (`prlimit --data`), so a runaway allocation fails in the source and
///   not in the machine.
///
/// Its standard error goes to the log, capped; its output lines are bounded in length.
public struct AirbyteProcess: Sendable {
    /// The command that starts the source, before the protocol arguments: a console script of
    /// a virtual environment, or an interpreter and a script.
    public let command: [String]
    public let limits: Limits
    /// When set, the source's requests go through an egress proxy checking this policy.
    public let egress: EgressPolicy?
    let logger: Logger

    public struct Limits: Sendable {
        public var timeout: Duration
        public var memoryMegabytes: Int
        /// Between TERM and KILL.
        public var grace: Duration = .seconds(10)
        /// Longer output lines fail the run (a record larger than this is refused).
        public var maxLineBytes = 64 << 20
        /// Standard error logged per run, in bytes; the rest is counted, not logged.
        public var stderrBytes = 64 << 10

        public init(timeout: Duration, memoryMegabytes: Int) {
            self.timeout = timeout
            self.memoryMegabytes = memoryMegabytes
        }

        public init(_ runtime: ProcessRuntime) {
            self.init(timeout: .seconds(runtime.timeoutSeconds), memoryMegabytes: runtime.memoryMegabytes)
        }
    }

    public init(command: [String], limits: Limits, egress: EgressPolicy? = nil, logger: Logger) {
        self.command = command
        self.limits = limits
        self.egress = egress
        self.logger = logger
    }

    /// The inputs of one command; nil ones are not passed.
    public struct Inputs: Sendable {
        public var config: PyValue?
        public var catalog: PyValue?
        public var state: PyValue?

        public init(config: PyValue? = nil, catalog: PyValue? = nil, state: PyValue? = nil) {
            self.config = config
            self.catalog = catalog
            self.state = state
        }
    }

    /// Runs `verb` and calls `handle` with each message, in order. Returns when the source
    /// exits 0; throws `ConnectorProcessFailure` otherwise (the source's own ERROR trace, when
    /// it wrote one, is the message), or the first error of `handle` or of the protocol.
    public func run(_ verb: String, _ inputs: Inputs = Inputs(),
                    handle: @escaping @Sendable (AirbyteMessage) async throws -> Void) async throws {
        // The source runs as our user: without this it could read /proc/<us>/environ (the
        // database URLs, a key given by environment) or attach to us. Not dumpable, our /proc
        // files belong to root. Process-wide and idempotent; it also turns off our core dumps.
        _ = hub_set_not_dumpable()
        let folder = try PrivateFolder()
        defer { folder.remove() }
        var arguments = [verb]
        for (flag, value) in [("--config", inputs.config), ("--catalog", inputs.catalog), ("--state", inputs.state)] {
            guard let value else { continue }
            arguments += [flag, try folder.write(String(flag.dropFirst(2)) + ".json", value.jsonText)]
        }
        guard let program = command.first else { throw HubError(.invalidInput, "a process connector needs a command") }
        // prlimit sets the limit on itself, then execs the source: the source starts under it.
        let prlimit = ["/usr/bin/prlimit", "/bin/prlimit"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let prlimit else {
            throw HubError(.invalidConfiguration, "prlimit (util-linux) is needed to bound a process connector's memory; install util-linux")
        }
        let bytes = limits.memoryMegabytes << 20
        let launched = [prlimit, "--data=\(bytes):\(bytes)", "--", program] + command.dropFirst() + arguments

        guard let egress else {
            return try await launch(launched, program: program, folder: folder, proxy: nil, handle: handle)
        }
        try await EgressProxy(policy: egress, logger: logger).withRunning { port in
            try await self.launch(launched, program: program, folder: folder, proxy: "http://127.0.0.1:\(port)", handle: handle)
        }
    }

    /// `launched` is the whole command line (prlimit, then the source); `program` the source's
    /// executable, whose folder leads its PATH.
    private func launch(_ launched: [String], program: String, folder: PrivateFolder, proxy: String?,
                        handle: @escaping @Sendable (AirbyteMessage) async throws -> Void) async throws {
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: limits.grace)]
        var environment: [Environment.Key: String] = [
            "PATH": ([URL(fileURLWithPath: program).deletingLastPathComponent().path] + ["/usr/local/bin", "/usr/bin", "/bin"])
                .joined(separator: ":"),
            // No PYTHONUNBUFFERED: a write per message would slow the source itself (measured by
            // `scripts/bench process`). Buffered output delays messages, never reorders them, and
            // a state lost in a buffer at a crash only means resuming from the one before.
            "HOME": folder.path, "TMPDIR": folder.path, "LANG": "C.UTF-8",
        ]
        if let proxy {
            // Both spellings: libraries differ in which they read. Nothing bypasses it.
            for key in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] { environment[Environment.Key(stringLiteral: key)] = proxy }
            environment["NO_PROXY"] = ""
            environment["no_proxy"] = ""
        }
        let monitor = RunMonitor()
        let (timedOut, errorTrace, stderrTail) = (monitor.timedOut, monitor.errorTrace, monitor.stderrTail)
        let limits = self.limits, logger = self.logger
        let outcome = try await Subprocess.run(
            .path(FilePath(launched[0])), arguments: Arguments(Array(launched.dropFirst())), environment: .custom(environment),
            workingDirectory: FilePath(folder.path), platformOptions: options, input: .none, output: .sequence, error: .sequence
        ) { execution in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                // Each child says whether it was an output stream, which end when every process
                // holding them has exited.
                group.addTask {
                    var lines = LineSplitter(maxLineBytes: limits.maxLineBytes)
                    var number = 0
                    for try await buffer in execution.standardOutput {
                        let complete = try buffer.withUnsafeBytes { try lines.append($0) }
                        for line in complete {
                            number += 1
                            if line.isEmpty { continue }
                            let message = try AirbyteMessage(line: line, number: number)
                            if case .error(let text, _, let type) = message { errorTrace.withLock { $0 = $0 ?? (text, type == "config_error") } }
                            try await handle(message)
                        }
                    }
                    if let last = lines.finish() {
                        let message = try AirbyteMessage(line: last, number: number + 1)
                        if case .error(let text, _, let type) = message { errorTrace.withLock { $0 = $0 ?? (text, type == "config_error") } }
                        try await handle(message)
                    }
                    return true
                }
                group.addTask {
                    // A progress bar redraws with \r and may never end a line: split there too, and
                    // cut a line that grows past the cap rather than hold it.
                    var lines = LineSplitter(maxLineBytes: 8 << 10, truncating: true)
                    for try await buffer in execution.standardError {
                        let complete = buffer.withUnsafeBytes { (try? lines.append($0)) ?? [] }
                        for line in complete {
                            let logged = stderrTail.withLock { $0.take(line, limit: limits.stderrBytes) }
                            if let logged { logger.notice("connector stderr", metadata: ["hub.connector.stderr": "\(logged)"]) }
                        }
                    }
                    return true
                }
                // The watchdog: past the timeout the whole group gets TERM, then KILL; a process
                // that left the group but still holds a pipe can't keep the run waiting either.
                let pid = execution.processIdentifier.value
                group.addTask {
                    try await Task.sleep(for: limits.timeout)
                    timedOut.withLock { $0 = true }
                    // The process itself too: it may have moved to a group of its own.
                    Self.signal(pid, SIGTERM)
                    try await Task.sleep(for: limits.grace)
                    Self.signal(pid, SIGKILL)
                    throw ConnectorProcessFailure("did not finish within \(Self.describe(limits.timeout)) and was ended (runtime.timeout)")
                }
                var streamsOpen = 2
                while streamsOpen > 0, let wasStream = try await group.next() {
                    if wasStream { streamsOpen -= 1 }
                }
                group.cancelAll()
                // Its output is closed: the source exits now, or is ended after the grace period
                // (one that closed its output and sleeps must not hold the slot). Once it has
                // exited, and before it is reaped (so the group's number can't be anyone
                // else's), whatever is left of its group is killed.
                let deadline = ContinuousClock.now + limits.grace
                while !Self.hasExited(pid), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
                if !Self.hasExited(pid) {
                    Self.signal(pid, SIGTERM)
                    let end = ContinuousClock.now + limits.grace
                    while !Self.hasExited(pid), ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(20)) }
                }
                Self.signal(pid, SIGKILL)
            }
        }
        if timedOut.withLock({ $0 }) {
            throw ConnectorProcessFailure("did not finish within \(Self.describe(limits.timeout)) and was ended (runtime.timeout)")
        }
        let skipped = stderrTail.withLock { $0.skipped }
        if skipped > 0 { logger.notice("connector stderr truncated", metadata: ["hub.connector.stderr_skipped_bytes": "\(skipped)"]) }
        switch outcome.terminationStatus {
        case .exited(0):
            return
        case .exited(let code):
            if stderrTail.withLock({ $0.sawMemoryError }) {
                throw ConnectorProcessFailure("ran out of its memory limit of \(limits.memoryMegabytes) MB (runtime.memory_mb) and exited with status \(code)")
            }
            let trace = errorTrace.withLock { $0 }
            let reason = trace.map { $0.text.count > 2_000 ? $0.text.prefix(2_000) + "…" : $0.text }
            throw ConnectorProcessFailure("exited with status \(code)" + (reason.map { ": \($0)" } ?? "; its log above says why"),
                                          isConfigurationError: trace?.configuration ?? false)
        case .signaled(let signal):
            throw ConnectorProcessFailure("was killed by signal \(signal)")
        }
    }

    /// Sends a signal to the process and to its process group.
    static func signal(_ pid: pid_t, _ signal: Int32) {
        _ = kill(pid, signal)
        _ = kill(-pid, signal)
    }

    /// Whether the process has exited (a zombie not yet reaped, or gone).
    static func hasExited(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        guard let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    static func describe(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        return seconds % 60 == 0 && seconds >= 60 ? "\(seconds / 60) min" : "\(seconds) s"
    }
}

/// What the output readers and the watchdog of one run share.
final class RunMonitor: Sendable {
    let timedOut = Shared(false)
    /// The first `TRACE` `ERROR`, and whether it was a `config_error`.
    let errorTrace = Shared<(text: String, configuration: Bool)?>(nil)
    let stderrTail = Shared(StderrTail())

    final class Shared<Value: Sendable>: Sendable {
        private let value: Mutex<Value>
        init(_ initial: Value) { value = Mutex(initial) }
        func withLock<T>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
    }
}

/// A source process that failed: the message says how, in words for the job's error.
public struct ConnectorProcessFailure: Error, Sendable, CustomStringConvertible {
    public let message: String
    /// The source said it failed on a `config_error`: one that only the user can fix.
    public let isConfigurationError: Bool
    public init(_ message: String, isConfigurationError: Bool = false) {
        self.message = "the source process " + message
        self.isConfigurationError = isConfigurationError
    }
    public var description: String { message }
}

/// Splits a byte stream into lines at `\n` only (a record's text may hold U+2028), bounding a
/// line's length so a source writing without newlines can't grow our memory.
struct LineSplitter {
    let maxLineBytes: Int
    /// Text for the log (stderr, pip): `\r` ends a line too, and a line past the cap is cut
    /// and handed on rather than refused.
    let truncating: Bool
    private var pending: [UInt8] = []

    init(maxLineBytes: Int, truncating: Bool = false) {
        self.maxLineBytes = maxLineBytes
        self.truncating = truncating
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) throws -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = 0
        for index in 0..<bytes.count where bytes[index] == 0x0A || (truncating && bytes[index] == 0x0D) {
            pending.append(contentsOf: bytes[start..<index])
            if pending.last == 0x0D { pending.removeLast() }
            if !(truncating && pending.isEmpty) { lines.append(pending) }
            pending.removeAll(keepingCapacity: true)
            start = index + 1
        }
        pending.append(contentsOf: bytes[start..<bytes.count])
        if pending.count > maxLineBytes {
            guard truncating else {
                throw ConnectorProcessFailure("wrote a line longer than \(maxLineBytes >> 20) MiB; an Airbyte message must fit on one line of that size")
            }
            lines.append(Array(pending.prefix(maxLineBytes)))
            pending.removeAll(keepingCapacity: true)
        }
        return lines
    }

    /// The last line, when the output did not end with a newline.
    mutating func finish() -> [UInt8]? {
        defer { pending = [] }
        return pending.isEmpty ? nil : pending
    }
}

/// What of a source's standard error reaches the log: the first bytes up to the cap.
struct StderrTail {
    private(set) var logged = 0
    private(set) var skipped = 0
    private(set) var sawMemoryError = false

    mutating func take(_ line: [UInt8], limit: Int) -> String? {
        let text = String(decoding: line, as: UTF8.self)
        if text.contains("MemoryError") || text.contains("Cannot allocate memory") { sawMemoryError = true }
        guard logged + line.count <= limit else {
            skipped += line.count
            return nil
        }
        logged += line.count
        return text
    }
}

/// A folder only this user can read, for one run's files.
struct PrivateFolder {
    let path: String

    init() throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(base)/tributary-source-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw HubError(.internalError, "cannot make a private folder under \(base): \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    /// Writes a file readable by this user only (0600, created anew) and returns its path.
    func write(_ name: String, _ text: String) throws -> String {
        let file = "\(path)/\(name)"
        let descriptor = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw HubError(.internalError, "cannot write \(file): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            guard result > 0 else { throw HubError(.internalError, "cannot write \(file): \(String(cString: strerror(errno)))") }
            written += result
        }
        return file
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
