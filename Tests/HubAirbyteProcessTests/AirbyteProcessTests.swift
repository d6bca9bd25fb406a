import CProcessShims
import Foundation
import HubAirbyteProcess
import HubConnectors
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The process runtime against a fake source that speaks the protocol or breaks it on purpose
/// (`Fixtures/fake_source.py`): what the source is given, what it may not do to us, and how
/// each way of failing reads.
@Suite("Airbyte process runtime")
struct AirbyteProcessTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fake_source.py").path
    static let secret = "sk_secret_marker_\(UInt32.random(in: 0...UInt32.max))"

    static func source(timeout: Duration = .seconds(60), memory: Int = 512, grace: Duration = .seconds(2),
                       maxLine: Int? = nil, stderrBytes: Int? = nil) -> ProcessSource {
        var limits = AirbyteProcess.Limits(timeout: timeout, memoryMegabytes: memory)
        limits.grace = grace
        if let maxLine { limits.maxLineBytes = maxLine }
        if let stderrBytes { limits.stderrBytes = stderrBytes }
        return ProcessSource(process: AirbyteProcess(command: ["/usr/bin/python3", script], limits: limits, logger: Logger(label: "test")))
    }

    static func config(_ mode: String, key: String = secret) -> PyValue {
        var config = PyDict()
        config["mode"] = .string(mode)
        config["api_key"] = .string(key)
        return .dict(config)
    }

    /// Messages a read hands on, collected.
    final class Collected: Sendable {
        private let messages = RunBox<[AirbyteMessage]>([])
        func append(_ message: AirbyteMessage) { messages.update { $0.append(message) } }
        var all: [AirbyteMessage] { messages.value }
    }

    func read(_ source: ProcessSource, _ config: PyValue, state: PyValue? = nil) async throws -> [AirbyteMessage] {
        let collected = Collected()
        let catalog = ProcessSource.configuredCatalog(from: try await source.discover(config: config))
        try await source.read(config: config, catalog: catalog, state: state) { collected.append($0) }
        return collected.all
    }

    @Test func specCheckDiscoverAndReadSpeakTheProtocol() async throws {
        let source = Self.source()
        let spec = try await source.spec()
        guard case .dict(let fields) = spec, case .dict(let properties)? = fields["properties"] else { Issue.record("\(spec)"); return }
        #expect(properties["api_key"] != nil)
        let good = try await source.check(config: Self.config("ok", key: "sk_good"))
        #expect(good.succeeded && good.message == nil)
        let bad = try await source.check(config: Self.config("ok"))
        #expect(!bad.succeeded && bad.message == "401 Unauthorized: the api_key is not valid")
        let catalog = ProcessSource.configuredCatalog(from: try await source.discover(config: Self.config("ok")))
        guard case .dict(let root) = catalog, case .list(let streams)? = root["streams"], case .dict(let people)? = streams.first else {
            Issue.record("\(catalog)"); return
        }
        #expect(people["sync_mode"] == .string("incremental"))
        #expect(people["cursor_field"] == .list([.string("updated_at")]))

        let messages = try await read(source, Self.config("ok"))
        let records = messages.compactMap { message -> PyValue? in if case .record("people", let data) = message { data } else { nil } }
        #expect(records.count == 3)
        // U+2028 inside a record's string is not a line break: the record arrives whole.
        if case .dict(let first)? = records.first { #expect(first["name"] == .string("Person\u{2028}1")) }
        #expect(messages.contains(.streamStatus(stream: "people", status: "COMPLETE")))
        var expectedState = PyDict()
        expectedState["updated_at"] = .int(3)
        #expect(messages.contains(.state(.stream(name: "people", state: .dict(expectedState)))))
        #expect(messages.contains { if case .configUpdate = $0 { true } else { false } })

        // From the state, the next read starts after it.
        var descriptor = PyDict(); descriptor["name"] = .string("people")
        var streamState = PyDict(); streamState["stream_descriptor"] = .dict(descriptor); streamState["stream_state"] = .dict(expectedState)
        var state = PyDict(); state["type"] = .string("STREAM"); state["stream"] = .dict(streamState)
        let resumed = try await read(source, Self.config("ok"), state: .list([.dict(state)]))
        let ids = resumed.compactMap { message -> PyValue? in if case .record(_, .dict(let data)) = message { data["id"] } else { nil } }
        #expect(ids == [.int(4), .int(5), .int(6)])
    }

    @Test func theSourceGetsItsSecretsInAPrivateFileAndNothingOfOurs() async throws {
        setenv("TRIBUTARY_DATABASE_URL", "postgres://tributary:worker_secret@db/tributary", 1)
        let messages = try await read(Self.source(memory: 300), Self.config("env"))
        guard case .log(_, let text)? = messages.first(where: { if case .log = $0 { true } else { false } }),
              case .dict(let report) = try PyValue.parseJSON(Array(text.utf8)) else {
            Issue.record("no report: \(messages)"); return
        }
        // Neither the credential nor the worker's own settings reach the command line or the environment.
        for key in ["environ", "argv", "cmdline"] {
            let shown = "\(report[key] ?? .none)"
            #expect(!shown.contains(Self.secret), "\(key) carries the credential")
            #expect(!shown.contains("worker_secret"), "\(key) carries the worker's environment")
        }
        guard case .dict(let environ)? = report["environ"] else { Issue.record("no environ"); return }
        #expect(Set(environ.keys.compactMap { if case .string(let key) = $0 { key } else { nil } })
                .isSubset(of: ["PATH", "HOME", "TMPDIR", "LANG", "LC_CTYPE"]))
        // Nor can it read ours from /proc: the runner is not dumpable. (Root reads any process's
        // files whatever the flag: run workers as a user of their own, as the image does.)
        #expect(hub_is_dumpable() == 0)
        guard case .string(let parent)? = report["parent_environ"] else { Issue.record("no parent_environ in the report"); return }
        if geteuid() != 0 { #expect(parent.hasPrefix("unreadable"), "the source read the worker's environment") }
        #expect(report["config_mode"] == .string("0o600"))
        #expect(report["folder_mode"] == .string("0o700"))
        // The memory limit is set on the source itself.
        guard case .string(let limits)? = report["limits"], case .string(let path)? = report["config_path"] else {
            Issue.record("the report lacks limits or config_path: \(report.keys)")
            return
        }
        #expect(limits.contains("Max data size") && limits.contains("\(300 << 20)"), "\(limits)")
        // The files are gone once the run has ended.
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path))
    }

    @Test func aLineThatIsNotAMessageFailsTheRunNamingItsNumberNotItsContent() async throws {
        let error = await #expect(throws: ProtocolViolation.self) { _ = try await read(Self.source(), Self.config("not_json")) }
        #expect(error?.line == 2)
        #expect(error.map { "\($0)" }?.contains("is not JSON") == true)
        #expect(error.map { "\($0)" }?.contains(Self.secret) == false)
    }

    @Test func aSourceErrorIsTheRunsFailureMessage() async throws {
        let error = await #expect(throws: ConnectorProcessFailure.self) { _ = try await read(Self.source(), Self.config("error")) }
        #expect(error?.message == "the source process exited with status 1: The API answered 403 Forbidden for /people")
    }

    /// Whether a process is still there (a zombie waiting for its parent counts as gone).
    static func alive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !(stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") ?? true)
    }

    static func grandchild(in messages: [AirbyteMessage]) -> Int32? {
        for case .log(_, let text) in messages where text.hasPrefix("grandchild ") { return Int32(text.dropFirst("grandchild ".count)) }
        return nil
    }

    @Test func aHangingSourceIsEndedWithItsChildrenAtTheTimeout() async throws {
        let collected = Collected()
        let source = Self.source(timeout: .seconds(3), grace: .seconds(1))
        let started = ContinuousClock.now
        let error = await #expect(throws: ConnectorProcessFailure.self) {
            try await source.read(config: Self.config("hang"), catalog: .dict(PyDict()), state: nil) { collected.append($0) }
        }
        #expect(error?.message.contains("did not finish within 3 s") == true, "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(20))
        let pid = try #require(Self.grandchild(in: collected.all))
        for _ in 0..<50 where Self.alive(pid) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!Self.alive(pid), "the source's own child outlived the run")
    }

    @Test func aSourceIgnoringTermIsKilledAfterTheGracePeriod() async throws {
        let started = ContinuousClock.now
        let error = await #expect(throws: ConnectorProcessFailure.self) {
            try await Self.source(timeout: .seconds(2), grace: .seconds(1)).read(config: Self.config("ignore_term"), catalog: .dict(PyDict()), state: nil) { _ in }
        }
        #expect(error?.message.contains("did not finish") == true)
        #expect(ContinuousClock.now - started < .seconds(15))
    }

    @Test func aCancelledRunEndsTheSourceAndItsChildren() async throws {
        let collected = Collected()
        let source = Self.source(timeout: .seconds(600), grace: .seconds(1))
        let started = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await source.read(config: Self.config("hang"), catalog: .dict(PyDict()), state: nil) { collected.append($0) }
            }
            group.addTask {
                for _ in 0..<100 where Self.grandchild(in: collected.all) == nil { try? await Task.sleep(for: .milliseconds(100)) }
            }
            // The watcher ends first (the read never ends by itself): then the read is cancelled.
            await group.next()
            group.cancelAll()
        }
        #expect(ContinuousClock.now - started < .seconds(30))
        let pid = try #require(Self.grandchild(in: collected.all))
        for _ in 0..<50 where Self.alive(pid) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!Self.alive(pid), "the source's own child outlived the cancelled run")
    }

    @Test func aSourceThatClosesItsOutputAndSleepsIsEndedAfterTheGrace() async throws {
        let started = ContinuousClock.now
        let error = await #expect(throws: ConnectorProcessFailure.self) {
            try await Self.source(timeout: .seconds(600), grace: .seconds(1)).read(config: Self.config("close_and_sleep"), catalog: .dict(PyDict()), state: nil) { _ in }
        }
        #expect(error?.message.contains("killed by signal") == true, "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test func aSourceOverItsMemoryLimitFailsSayingSo() async throws {
        let error = await #expect(throws: ConnectorProcessFailure.self) {
            try await Self.source(memory: 200).read(config: Self.config("memory"), catalog: .dict(PyDict()), state: nil) { _ in }
        }
        #expect(error?.message.contains("ran out of its memory limit of 200 MB") == true, "\(String(describing: error))")
    }

    @Test func anEndlessLineIsRefusedAtItsBound() async throws {
        let error = await #expect(throws: ConnectorProcessFailure.self) {
            try await Self.source(maxLine: 1 << 20).read(config: Self.config("long_line"), catalog: .dict(PyDict()), state: nil) { _ in }
        }
        #expect(error?.message.contains("longer than 1 MiB") == true, "\(String(describing: error))")
    }

    @Test func aFloodOfStderrIsCappedAndTheReadGoesOn() async throws {
        let messages = try await read(Self.source(stderrBytes: 4_096), Self.config("stderr_flood"))
        #expect(messages.filter { if case .record = $0 { true } else { false } }.count == 3)
    }

    @Test func theSourcesRequestsGoThroughTheEgressPolicy() async throws {
        var config = PyDict()
        config["mode"] = .string("fetch")
        config["urls"] = .list([.string("http://127.0.0.1:{port}/a"), .string("http://169.254.169.254/latest/meta-data/"),
                                .string("https://169.254.169.254/latest/meta-data/")])
        func fetch(_ policy: EgressPolicy) async throws -> [String] {
            var limits = AirbyteProcess.Limits(timeout: .seconds(60), memoryMegabytes: 512)
            limits.grace = .seconds(1)
            let process = AirbyteProcess(command: ["/usr/bin/python3", Self.script], limits: limits, egress: policy, logger: Logger(label: "test"))
            let collected = Collected()
            try await process.run("read", .init(config: .dict(config), catalog: .dict(PyDict()))) { collected.append($0) }
            return collected.all.compactMap { if case .log(_, let text) = $0 { text } else { nil } }
        }
        // Loopback and the cloud metadata address are refused by default, over http and https.
        let refused = try await fetch(EgressPolicy())
        #expect(refused.count == 3, "\(refused)")
        #expect(refused.allSatisfy { $0.hasPrefix("failed ") && $0.contains("403") }, "\(refused)")
        // An operator allowing loopback lets the local server answer; metadata stays refused.
        let allowed = try await fetch(EgressPolicy(allowed: try EgressPolicy.parseAllowList("127.0.0.1/32")))
        // The server saw the absolute-form target a proxy forwards: the request went through it.
        #expect(allowed.first?.hasPrefix("fetched http://127.0.0.1:") == true && allowed.first?.contains(": hello from http://127.0.0.1:") == true,
                "\(allowed)")
        #expect(allowed.dropFirst().allSatisfy { $0.hasPrefix("failed ") && $0.contains("403") }, "\(allowed)")
    }
}

/// A value shared between a test and the closures it hands the runtime.
final class RunBox<Value: Sendable>: Sendable {
    private let stored: Mutex<Value>
    init(_ value: Value) { stored = Mutex(value) }
    var value: Value { stored.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { stored.withLock { body(&$0) } }
}
