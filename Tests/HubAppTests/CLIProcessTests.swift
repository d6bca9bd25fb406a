import Foundation
import HubApp
import HubDatabase
import HubEmbeddedPostgres
import HubStore
import PostgresNIO
import Testing
import TributaryTestSupport

@Suite("The tributary binary as a process")
struct CLIProcessTests {
    let logger = TestDatabase.logger

    @Test func exitCodesSayWhatHappened() async throws {
        let version = try await TributaryProcess.run(["version"])
        #expect(version.status == 0)
        #expect(version.stdout == "tributary \(TributaryVersion.current)\n")

        let unknownOption = try await TributaryProcess.run(["migrate", "--bogus"])
        #expect(unknownOption.status == 2)
        #expect(unknownOption.stderr.contains("--bogus"))

        let unknownRole = try await TributaryProcess.run(["serve", "--role", "janitor"])
        #expect(unknownRole.status == 2)
        #expect(unknownRole.stderr.contains("janitor"))

        let badEnvironment = try await TributaryProcess.run(["migrate"], environment: ["TRIBUTARY_LOG_LEVEL": "loud"])
        #expect(badEnvironment.status == 2)
        #expect(badEnvironment.stderr.contains("TRIBUTARY_LOG_LEVEL"))

        let port = try freeLoopbackPort()
        let unreachable = try await TributaryProcess.run(
            ["migrate"], environment: ["TRIBUTARY_DATABASE_URL": "postgres://u:PASSWORD-MARKER@127.0.0.1:\(port)/d?sslmode=disable"]
        )
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("cannot reach the database"))
        #expect(!(unreachable.stderr + unreachable.stdout).contains("PASSWORD-MARKER"))

        let help = try await TributaryProcess.run(["serve", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("Examples:"))
    }

    @Test func twoMigrateProcessesAtOnceApplyEachFileOnce() async throws {
        let url = try await TestDatabase.makeEmptyDatabase()
        let environment = ["TRIBUTARY_DATABASE_URL": url.revealedString]
        let first = try TributaryProcess(["migrate"], environment: environment)
        let second = try TributaryProcess(["migrate"], environment: environment)
        #expect(await first.waitForExit(timeout: .seconds(60)) == 0, "\(first.standardError)")
        #expect(await second.waitForExit(timeout: .seconds(60)) == 0, "\(second.standardError)")
        let appliedLines = (first.standardOutput + second.standardOutput).split(separator: "\n").filter { $0.hasPrefix("applied ") }
        #expect(appliedLines.count == Migration.embedded.count)
        let counts = try await TestDatabase.withClient(url) { client in
            let rows = try await client.query("SELECT count(*), count(DISTINCT name) FROM schema_migrations", logger: logger)
            var result: (Int, Int) = (0, 0)
            for try await row in rows.decode((Int, Int).self) { result = row }
            return result
        }
        #expect(counts.0 == Migration.embedded.count)
        #expect(counts.1 == Migration.embedded.count)
    }

    @Test func serveRefusesAStaleSchema() async throws {
        let url = try await TestDatabase.makeEmptyDatabase()
        let result = try await TributaryProcess.run(
            ["serve", "--role", "api"],
            environment: ["TRIBUTARY_DATABASE_URL": url.revealedString, "TRIBUTARY_HTTP_ADDRESS": "127.0.0.1:\(try freeLoopbackPort())"],
            timeout: .seconds(30)
        )
        #expect(result.status == 1)
        #expect(result.stderr.contains("run `tributary migrate`"), "\(result.stderr)")
    }

    @Test func serveAnswersProbesAndStopsCleanlyOnSIGTERM() async throws {
        let url = try await TestDatabase.makeMigratedDatabase()
        let port = try freeLoopbackPort()
        let server = try TributaryProcess(
            ["serve", "--role", "api"],
            environment: ["TRIBUTARY_DATABASE_URL": url.revealedString, "TRIBUTARY_HTTP_ADDRESS": "127.0.0.1:\(port)"]
        )
        let base = "http://127.0.0.1:\(port)"
        #expect(await HTTPProbe.waitFor(base + "/healthz"), "\(server.standardOutput)\(server.standardError)")
        #expect(await HTTPProbe.get(base + "/readyz")?.status == 200)

        // A newer binary migrates the database under this one: no longer ready.
        try await TestDatabase.withClient(url) { client in
            _ = try await client.query(
                "INSERT INTO schema_migrations (name, checksum, execution_ms) VALUES ('9999_future.sql', 'x', 0)", logger: logger
            )
        }
        let notReady = await HTTPProbe.get(base + "/readyz")
        #expect(notReady?.status == 503)
        #expect(notReady?.body.contains("schema_too_new") == true)

        let started = ContinuousClock.now
        server.signal(SIGTERM)
        let status = await server.waitForExit(timeout: .seconds(40))
        #expect(status == 0, "\(server.standardError)")
        #expect(ContinuousClock.now - started < .seconds(30), "an idle api stops at once; the bound is for a loaded machine")
        #expect(server.standardOutput.contains("stopped cleanly"))
        // Logs are JSON lines.
        for line in server.standardOutput.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "not JSON: \(line)")
        }
    }

    @Test func devRunsEverythingAndSIGTERMStopsItsDatabaseToo() async throws {
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let port = try freeLoopbackPort()
        let dev = try TributaryProcess(["dev", "--data-dir", root, "--port", "\(port)"])
        #expect(await HTTPProbe.waitFor("http://127.0.0.1:\(port)/readyz", timeout: .seconds(60)), "\(dev.standardError)")
        let postgresPID = try #require(postmasterPID(root))
        dev.signal(SIGTERM)
        #expect(await dev.waitForExit(timeout: .seconds(15)) == 0, "\(dev.standardError)")
        #expect(!processAlive(postgresPID), "PostgreSQL outlived tributary dev")
        #expect(postmasterPID(root) == nil)
    }

    @Test func devKilledHardStillTakesItsDatabaseDown() async throws {
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let port = try freeLoopbackPort()
        let dev = try TributaryProcess(["dev", "--data-dir", root, "--port", "\(port)"])
        #expect(await HTTPProbe.waitFor("http://127.0.0.1:\(port)/healthz", timeout: .seconds(60)), "\(dev.standardError)")
        let postgresPID = try #require(postmasterPID(root))
        dev.signal(SIGKILL)
        _ = await dev.waitForExit(timeout: .seconds(5))
        let deadline = ContinuousClock.now + .seconds(20)
        while processAlive(postgresPID), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!processAlive(postgresPID), "the watchdog must stop PostgreSQL when its parent dies")
    }

    /// As root, runs the binary as the unprivileged `postgres` user; as anyone else, as itself.
    @Test func migrateRunsTheEmbeddedServerAsANormalUser() async throws {
        let root = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var launcher: [String] = []
        var environment = ["TRIBUTARY_DATA_DIR": root + "/data"]
        if geteuid() == 0, let account = getpwnam("postgres") {
            let uid = account.pointee.pw_uid
            let gid = account.pointee.pw_gid
            chown(root, uid, gid)
            // A copy the postgres user can surely execute, wherever the checkout lives.
            let binary = root + "/tributary"
            // Copied by a child process: had this process opened the copy for writing, a sibling
            // test forking meanwhile would inherit that descriptor and exec would fail (ETXTBSY).
            let copy = try Process.run(URL(fileURLWithPath: "/bin/cp"), arguments: [TributaryProcess.binaryPath, binary])
            copy.waitUntilExit()
            chmod(binary, 0o755)
            environment["TRIBUTARY_BIN"] = binary
            environment["HOME"] = root
            launcher = ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--"]
            let result = try await runAs(launcher: launcher, binary: binary, environment: environment, directory: root)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("schema is current"))
            let owner = try FileManager.default.attributesOfItem(atPath: root + "/data/pg")[.ownerAccountID] as? NSNumber
            #expect(owner?.uint32Value == uid)
        } else {
            let result = try await TributaryProcess.run(["migrate"], environment: environment, directory: root)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("schema is current"))
        }
    }

    private func runAs(launcher: [String], binary: String, environment: [String: String], directory: String) async throws
        -> (status: Int32?, stdout: String, stderr: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher[0])
        process.arguments = Array(launcher.dropFirst()) + [binary, "migrate"]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("TRIBUTARY_") }
            .merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}

func postmasterPID(_ root: String) -> Int32? {
    guard let text = try? String(contentsOfFile: root + "/pg/postmaster.pid", encoding: .utf8) else { return nil }
    return text.split(separator: "\n").first.flatMap { Int32($0) }
}

func processAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    // A zombie awaiting its parent's reap is gone for every purpose that matters here.
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    return !status.contains("State:\tZ")
}
