import NIOCore
import NIOPosix
import Testing

/// Sockets held open by clients that never send a request: the api role closes them, so a
/// peer cannot exhaust its connections by connecting and going quiet.
@Suite("Idle connections")
struct IdleConnectionTests {
    @Test("a connection that sends nothing is closed after the idle timeout")
    func silentConnectionIsClosed() async throws {
        let api = APIWorld()
        try await api.withWorld(idleTimeout: .seconds(1)) { world in
            let port = try #require(world.baseURL.split(separator: ":").last.flatMap { Int($0) })
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            // The server must close it; the 20 s fallback only turns a hang into a failure.
            let closedByServer = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask { try await channel.closeFuture.get(); return true }
                group.addTask { try await Task.sleep(for: .seconds(20)); return false }
                defer { group.cancelAll() }
                return try await group.next() ?? false
            }
            if !closedByServer { try await channel.close() }
            #expect(closedByServer)
        }
    }
}
