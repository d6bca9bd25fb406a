import Foundation
import HubCore

/// Where the PostgreSQL server programs (`initdb`, `postgres`) are on this machine.
struct PostgresBinaries: Sendable, Equatable {
    let directory: String
    /// The major version, read from the directory name or `postgres --version`.
    let majorVersion: Int?

    var initdb: String { directory + "/initdb" }
    var postgres: String { directory + "/postgres" }

    /// Searches `PATH`, then `/usr/lib/postgresql/*/bin` newest first. With `preferredMajor`
    /// (an existing cluster's `PG_VERSION`), a matching Debian install wins.
    static func locate(path: String?, preferredMajor: Int? = nil, debianRoot: String = "/usr/lib/postgresql") throws
        -> PostgresBinaries
    {
        let fileManager = FileManager.default
        func hasServer(_ directory: String) -> Bool {
            fileManager.isExecutableFile(atPath: directory + "/initdb")
                && fileManager.isExecutableFile(atPath: directory + "/postgres")
        }
        let debian = ((try? fileManager.contentsOfDirectory(atPath: debianRoot)) ?? [])
            .compactMap { name in Int(name).map { (major: $0, directory: "\(debianRoot)/\(name)/bin") } }
            .filter { hasServer($0.directory) }
            .sorted { $0.major > $1.major }
        if let preferredMajor, let match = debian.first(where: { $0.major == preferredMajor }) {
            return PostgresBinaries(directory: match.directory, majorVersion: match.major)
        }
        for directory in (path ?? "").split(separator: ":").map(String.init) where hasServer(directory) {
            return PostgresBinaries(directory: directory, majorVersion: debian.first { $0.directory == directory }?.major)
        }
        if let newest = debian.first {
            return PostgresBinaries(directory: newest.directory, majorVersion: newest.major)
        }
        throw HubError(
            .postgresNotInstalled,
            "PostgreSQL server programs (initdb, postgres) not found in PATH or \(debianRoot)/*/bin: install them with `apt-get install postgresql`, or set TRIBUTARY_DATABASE_URL to use an existing server"
        )
    }
}
