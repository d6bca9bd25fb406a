import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The `postmaster.pid` lock file a running PostgreSQL server keeps in its data directory.
///
/// Its lines are: pid, data directory, start time, port, socket directory, listen address,
/// shared memory key, status (`ready` once it accepts connections).
struct PostmasterPIDFile: Sendable {
    let pid: pid_t
    let port: Int?
    let status: String?

    static func path(in dataDirectory: String) -> String { dataDirectory + "/postmaster.pid" }

    static func read(dataDirectory: String) -> PostmasterPIDFile? {
        guard let text = try? String(contentsOfFile: path(in: dataDirectory), encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard let first = lines.first, let pid = pid_t(first) else { return nil }
        return PostmasterPIDFile(
            pid: pid,
            port: lines.count > 3 ? Int(lines[3]) : nil,
            status: lines.count > 7 ? lines[7] : nil
        )
    }

    /// True when the pid names a live PostgreSQL server for `dataDirectory`, not a pid that
    /// something else reused after a crash or a reboot.
    func isLiveServer(for dataDirectory: String) -> Bool {
        guard processExists(pid) else { return false }
        guard let command = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else {
            // No /proc (not Linux): trust the pid, as PostgreSQL itself does.
            return true
        }
        guard command.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("postgres") else { return false }
        guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return true }
        let arguments = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let flag = arguments.firstIndex(of: "-D"), flag + 1 < arguments.count else { return true }
        return canonicalPath(arguments[flag + 1]) == canonicalPath(dataDirectory)
    }
}

/// The absolute path with symbolic links resolved, or the path itself when it doesn't exist.
func canonicalPath(_ path: String) -> String {
    guard let resolved = realpath(path, nil) else { return path }
    defer { free(resolved) }
    return String(cString: resolved)
}
