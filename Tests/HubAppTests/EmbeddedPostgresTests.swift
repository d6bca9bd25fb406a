import Foundation
import HubCore
import HubDatabase
@testable import HubEmbeddedPostgres
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

@Suite("The embedded PostgreSQL", .serialized)
struct EmbeddedPostgresTests {
    let logger = TestDatabase.logger

    func server(_ root: String) -> EmbeddedPostgres {
        EmbeddedPostgres(configuration: .init(rootDirectory: root, durable: false), logger: logger)
    }

    func query(_ url: DatabaseURL, _ sql: String) async throws -> [String] {
        try await TestDatabase.withClient(url) { client in
            var values: [String] = []
            for try await value in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String.self) {
                values.append(value)
            }
            return values
        }
    }

    @Test func initializesStartsStopsAndReusesTheCluster() async throws {
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = server(root)
        let url = try await first.start()
        #expect(try await query(url, "SELECT current_database()::text") == ["tributary"])
        try await TestDatabase.withClient(url) { client in
            _ = try await client.query("CREATE TABLE marker AS SELECT 'kept'::text AS value", logger: logger)
        }
        let pid = try #require(await first.serverPID)
        let versionFile = root + "/pg/PG_VERSION"
        let created = try FileManager.default.attributesOfItem(atPath: versionFile)[.modificationDate] as? Date
        await first.stop()
        #expect(!processExists(pid), "the server must be gone after stop")
        #expect(!FileManager.default.fileExists(atPath: root + "/pg/postmaster.pid"))

        let second = server(root)
        let again = try await second.start()
        #expect(try await query(again, "SELECT value FROM marker") == ["kept"])
        let reused = try FileManager.default.attributesOfItem(atPath: versionFile)[.modificationDate] as? Date
        #expect(created == reused, "a second start must reuse the cluster, not initialize a new one")
        #expect(again.port == url.port, "a restart must keep the port, or nothing configured with the URL reconnects")
        await second.stop()
    }

    @Test func aRestartWhoseOldPortIsTakenMovesToAFreeOne() async throws {
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = server(root)
        let url = try await first.start()
        await first.stop()
        // Another program now listens on the remembered port.
        let squatter = try ListeningSocket(port: url.port)
        defer { squatter.close() }
        let second = server(root)
        let moved = try await second.start()
        #expect(moved.port != url.port)
        #expect(try await query(moved, "SELECT current_database()::text") == ["tributary"])
        await second.stop()
        squatter.close()
        let third = server(root)
        #expect(try await third.start().port == moved.port, "the new port is the one remembered from now on")
        await third.stop()
    }

    @Test func anExplicitPortIsUsed() async throws {
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let port = try freeLoopbackPort()
        let explicit = EmbeddedPostgres(configuration: .init(rootDirectory: root, port: port, durable: false), logger: logger)
        #expect(try await explicit.start().port == port)
        await explicit.stop()
    }

    @Test(arguments: [StalePID.dead, .reusedByAnotherProgram])
    func aStalePIDFileFromACrashIsHandled(_ stale: StalePID) async throws {
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = server(root)
        _ = try await first.start()
        await first.stop()
        // What a crash leaves: a lock file naming a pid that is no PostgreSQL server.
        let pid = stale == .dead ? 999_999 : Int(getpid())
        try "\(pid)\n\(root)/pg\n1700000000\n5432\n\n127.0.0.1\n  1234  5678\nready   \n"
            .write(toFile: root + "/pg/postmaster.pid", atomically: true, encoding: .utf8)
        let second = server(root)
        let url = try await second.start()
        #expect(try await query(url, "SELECT 'up'") == ["up"])
        await second.stop()
    }

    enum StalePID: Sendable { case dead, reusedByAnotherProgram }

    @Test func aSecondInstanceJoinsTheRunningServerAndLeavesItRunning() async throws {
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let owner = server(root)
        let url = try await owner.start()
        let guest = server(root)
        let joined = try await guest.start()
        #expect(joined.port == url.port)
        #expect(await guest.serverPID == nil)
        await guest.stop()
        #expect(try await query(url, "SELECT 'still up'") == ["still up"])
        await owner.stop()
    }

    @Test(.enabled(if: geteuid() == 0, "only root must switch to the postgres account"))
    func asRootTheServerRunsAsThePostgresUser() async throws {
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let embedded = server(root)
        _ = try await embedded.start()
        let pid = try #require(await embedded.serverPID)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") } ?? ""
        let uid = uidLine.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
        #expect(uid == getpwnam("postgres")?.pointee.pw_uid)
        #expect(uid != 0)
        await embedded.stop()
    }

    @Test func missingServerProgramsSayWhatToInstall() {
        let error = #expect(throws: HubError.self) {
            try PostgresBinaries.locate(path: "/nonexistent/bin", debianRoot: "/nonexistent/postgresql")
        }
        #expect(error?.code == .postgresNotInstalled)
        #expect(error?.message.contains("apt-get install postgresql") == true)
    }

    @Test func aFolderThatIsNoClusterIsRefused() async throws {
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/pg", withIntermediateDirectories: true)
        try "mine".write(toFile: root + "/pg/notes.txt", atomically: true, encoding: .utf8)
        let error = await #expect(throws: HubError.self) { try await server(root).start() }
        #expect(error?.message.contains("neither empty nor a PostgreSQL cluster") == true)
        #expect(FileManager.default.fileExists(atPath: root + "/pg/notes.txt"), "the user's file must survive")
    }
}

/// A TCP socket listening on a loopback port: another program holding the port.
final class ListeningSocket {
    private var descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard descriptor >= 0, bound, listen(descriptor, 1) == 0 else {
            throw HubError(.embeddedPostgres, "cannot listen on 127.0.0.1:\(port) (errno \(errno))")
        }
    }

    func close() {
        guard descriptor >= 0 else { return }
        _ = Glibc.close(descriptor)
        descriptor = -1
    }

    deinit { close() }
}
