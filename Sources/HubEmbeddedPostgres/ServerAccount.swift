import Foundation
import HubCore

#if canImport(Glibc)
import Glibc
#endif

/// The unprivileged account the embedded server runs as when Tributary runs as root, since
/// PostgreSQL refuses to start as root.
struct ServerAccount: Sendable, Equatable {
    let name: String
    let uid: uid_t
    let gid: gid_t

    /// nil when the current user can run the server itself (anyone but root).
    static func forServer(preferredName: String?) throws -> ServerAccount? {
        guard geteuid() == 0 else { return nil }
        let name = preferredName ?? "postgres"
        guard let entry = getpwnam(name) else {
            throw HubError(
                .embeddedPostgres,
                "PostgreSQL refuses to run as root and there is no '\(name)' user to run it as: `apt-get install postgresql` creates one, or run tributary as a normal user"
            )
        }
        return ServerAccount(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }

    /// `executable arguments…` as this account: `setpriv` drops root and then execs, so the
    /// pid we hold is the server's own.
    func command(_ executable: String, _ arguments: [String]) throws -> (String, [String]) {
        guard let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first(where: FileManager.default.isExecutableFile) else {
            throw HubError(.embeddedPostgres, "setpriv not found (package util-linux); it is needed to run PostgreSQL as '\(name)' when tributary runs as root")
        }
        return (setpriv, ["--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--", executable] + arguments)
    }

    /// Whether this account can pass through every folder down to `path` (and list it).
    func canReach(_ path: String, environment: [String: String]) async throws -> Bool {
        let probe = try command("/usr/bin/test", ["-x", path])
        return try await ChildProcess.run(probe.0, probe.1, environment: environment).status == 0
    }

    /// Whether this account can create files in the folder `path`.
    func canWrite(_ path: String, environment: [String: String]) async throws -> Bool {
        let probe = try command("/usr/bin/test", ["-w", path, "-a", "-x", path])
        return try await ChildProcess.run(probe.0, probe.1, environment: environment).status == 0
    }

    func chown(_ path: String) throws {
        guard Glibc.chown(path, uid, gid) == 0 else {
            throw HubError(.embeddedPostgres, "cannot hand \(path) to user \(name): \(String(cString: strerror(errno)))")
        }
    }
}

extension Optional where Wrapped == ServerAccount {
    /// The command line that runs `executable` as this account, or as ourselves for nil.
    func command(_ executable: String, _ arguments: [String]) throws -> (String, [String]) {
        guard let account = self else { return (executable, arguments) }
        return try account.command(executable, arguments)
    }
}
