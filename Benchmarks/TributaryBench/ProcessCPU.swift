import Foundation
import Glibc
import HubDatabase
import Logging
import PostgresNIO

/// CPU time spent by this process and by the local PostgreSQL server, read from `/proc`, so a
/// benchmark can say where each record's cost went. On 2 cores shared by the worker and the
/// database, throughput is CPU-bound: a sync's ceiling against the raw upsert is the ratio of
/// their CPU per record, whatever the wall clock says on a noisy machine.
struct ProcessCPU {
    /// The server's postmaster: its children are the backends, WAL writer and checkpointer.
    let postmaster: Int32

    /// Finds the postmaster of the server `client` talks to. Only meaningful for a server on
    /// this machine (the benchmark starts its own).
    static func locate(client: PostgresClient, logger: Logger) async throws -> ProcessCPU? {
        var backend: Int32?
        for try await pid in try await client.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self) { backend = pid }
        guard let backend, let stat = stat(backend) else { return nil }
        return ProcessCPU(postmaster: stat.parent)
    }

    /// Seconds of CPU (user and system) this process has used.
    static func ownSeconds() -> Double {
        guard let stat = stat(getpid()) else { return 0 }
        return stat.seconds
    }

    /// Seconds of CPU the server has used: the postmaster, the backends that exited (reaped
    /// into its children's time) and the ones still running.
    func databaseSeconds() -> Double {
        guard let root = Self.stat(postmaster) else { return 0 }
        var total = root.seconds + root.childrenSeconds
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry), pid != postmaster, let stat = Self.stat(pid), stat.parent == postmaster else { continue }
            total += stat.seconds
        }
        return total
    }

    private struct Stat {
        let parent: Int32
        let seconds: Double
        let childrenSeconds: Double
    }

    /// Fields of `/proc/PID/stat` (proc(5)): the command name is in parentheses and may hold
    /// spaces, so fields are counted from the last `)`.
    private static func stat(_ pid: Int32) -> Stat? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the name: state (3), ppid (4), …, utime (14), stime (15), cutime (16), cstime (17).
        guard fields.count > 14, let parent = Int32(fields[1]), let utime = Double(fields[11]), let stime = Double(fields[12]),
              let cutime = Double(fields[13]), let cstime = Double(fields[14]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return Stat(parent: parent, seconds: (utime + stime) / ticks, childrenSeconds: (cutime + cstime) / ticks)
    }
}

/// The CPU a measured step used, per record, in microseconds.
struct CPUSpent {
    let database: Double
    let worker: Double

    /// Runs `body` and measures the CPU it made the database and this process use.
    static func measure<T>(_ cpu: ProcessCPU?, records: (T) -> Int, _ body: () async throws -> T) async rethrows -> (T, CPUSpent?) {
        let database = cpu?.databaseSeconds(), own = ProcessCPU.ownSeconds()
        let result = try await body()
        guard let cpu, let database else { return (result, nil) }
        let count = Double(max(records(result), 1))
        return (result, CPUSpent(database: (cpu.databaseSeconds() - database) / count * 1_000_000,
                                 worker: (ProcessCPU.ownSeconds() - own) / count * 1_000_000))
    }

    /// The JSON fields a benchmark row carries.
    var fields: [String: Any] {
        ["db_cpu_us_per_record": (database * 10).rounded() / 10, "worker_cpu_us_per_record": (worker * 10).rounded() / 10]
    }
}
