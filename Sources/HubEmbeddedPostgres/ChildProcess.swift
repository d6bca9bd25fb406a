import Foundation
import HubCore

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for the servers Tributary supervises.
///
/// Foundation's `Process` can't start a child in a new session; the embedded PostgreSQL
/// needs one so that a terminal's Ctrl-C reaches only Tributary, which then drains its
/// services before it stops the database itself.
struct ChildProcess: Sendable {
    let pid: pid_t

    /// Starts `executable` with `arguments`; stdin reads `inputDescriptor` (or /dev/null),
    /// stdout and stderr append to `outputPath` (or /dev/null).
    static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String],
        inputDescriptor: Int32? = nil, outputPath: String?, newSession: Bool
    ) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let inputDescriptor {
            posix_spawn_file_actions_adddup2(&actions, inputDescriptor, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 1, outputPath ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc ≥ 2.26) is a GNU extension Swift's Glibc module doesn't export.
        let setSID: Int16 = 0x80
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        sigaddset(&defaultSignals, SIGINT)
        sigaddset(&defaultSignals, SIGTERM)
        sigaddset(&defaultSignals, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        let flags = Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) | (newSession ? setSID : 0)
        posix_spawnattr_setflags(&attributes, flags)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw HubError(.embeddedPostgres, "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return ChildProcess(pid: pid)
    }

    /// The exit status if the child has exited (reaping it), nil while it runs.
    func exitStatusIfExited() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return result == -1 ? -1 : nil }
        return status
    }

    func signal(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits up to `timeout` for the child to exit; true if it did.
    func waitForExit(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if exitStatusIfExited() != nil { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return exitStatusIfExited() != nil
    }

    /// Runs a short-lived command to completion and returns its exit status and output.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]) async throws -> (
        status: Int32, output: String
    ) {
        let outputFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("tributary-\(UUID().uuidString).out").path
        defer { unlink(outputFile) }
        let child = try spawn(executable, arguments, environment: environment, outputPath: outputFile, newSession: false)
        var status: Int32?
        while status == nil {
            status = child.exitStatusIfExited()
            if status == nil { try? await Task.sleep(for: .milliseconds(10)) }
        }
        let output = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        let raw = status ?? -1
        // WEXITSTATUS: the exit code sits in the second byte of a normal termination status.
        let code = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
        return (code, output)
    }
}

/// Whether a process with this pid exists (zombies included).
func processExists(_ pid: pid_t) -> Bool {
    kill(pid, 0) == 0 || errno == EPERM
}
