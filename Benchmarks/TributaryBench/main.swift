import Foundation
import HubDatabase
import HubStore

// Entry point of `scripts/bench NAME [--json]`; each benchmark prints its figure beside the
// limit or peer measured in the same run, since only ratios hold on a shared machine.

let arguments = Array(CommandLine.arguments.dropFirst())
let json = arguments.contains("--json")
let names = arguments.filter { !$0.hasPrefix("--") }

guard names.count == 1 else {
    FileHandle.standardError.write(Data("usage: tributary-bench crypto [--json] | queue (TRIBUTARY_DATABASE_URL)\n".utf8))
    exit(2)
}

switch names[0] {
case "crypto":
    await CryptoBenchmark.run(json: json)
case "queue":
    // Driven by scripts/bench queue, which starts the database and the peer.
    let environment = ProcessInfo.processInfo.environment
    guard let raw = environment["TRIBUTARY_DATABASE_URL"], let url = try? DatabaseURL(parsing: raw) else {
        FileHandle.standardError.write(Data("tributary-bench queue needs TRIBUTARY_DATABASE_URL\n".utf8))
        exit(2)
    }
    do {
        try await QueueBenchmark.run(
            url: url, drainJobs: environment["BENCH_DRAIN_JOBS"].flatMap(Int.init) ?? 100_000,
            latencySeconds: environment["BENCH_LATENCY_SECONDS"].flatMap(Double.init) ?? 20,
            rate: environment["BENCH_RATE"].flatMap(Double.init) ?? 50
        )
    } catch {
        FileHandle.standardError.write(Data("queue benchmark failed: \(error)\n".utf8))
        exit(1)
    }
case "ingest":
    // Driven by scripts/bench ingest, which starts the database, the fake API and the CDK peer.
    let environment = ProcessInfo.processInfo.environment
    guard let raw = environment["TRIBUTARY_DATABASE_URL"], let url = try? DatabaseURL(parsing: raw),
          let api = environment["BENCH_API_BASE"], let jsonl = environment["BENCH_JSONL"],
          let manifest = environment["BENCH_MANIFEST_DIR"] else {
        FileHandle.standardError.write(Data("tributary-bench ingest needs TRIBUTARY_DATABASE_URL, BENCH_API_BASE, BENCH_JSONL, BENCH_MANIFEST_DIR\n".utf8))
        exit(2)
    }
    do {
        try await IngestBenchmark.run(url: url, apiBase: api, jsonl: jsonl, manifestDirectory: manifest,
                                      expected: environment["BENCH_RECORDS"].flatMap(Int.init) ?? 200_000,
                                      vault: try environment["BENCH_VAULT_DATABASE_URL"].map { try DatabaseURL(parsing: $0) })
    } catch {
        FileHandle.standardError.write(Data("ingest benchmark failed: \(error)\n".utf8))
        exit(1)
    }
case "api-seed":
    // Driven by scripts/bench api: fills the store the load test reads.
    let environment = ProcessInfo.processInfo.environment
    guard let raw = environment["TRIBUTARY_DATABASE_URL"], let url = try? DatabaseURL(parsing: raw),
          let keyFile = environment["BENCH_MASTER_KEY_FILE"], let output = environment["BENCH_OUT"],
          let cursors = environment["BENCH_CURSORS"], let emails = environment["BENCH_EMAILS"] else {
        FileHandle.standardError.write(Data("tributary-bench api-seed needs TRIBUTARY_DATABASE_URL, BENCH_MASTER_KEY_FILE, BENCH_OUT, BENCH_CURSORS, BENCH_EMAILS\n".utf8))
        exit(2)
    }
    do {
        try await APISeed.run(url: url, keyFile: keyFile, records: environment["BENCH_RECORDS"].flatMap(Int.init) ?? 1_000_000,
                              output: output, cursorsFile: cursors,
                              unified: environment["BENCH_UNIFIED"].flatMap(Int.init) ?? 100_000, emailsFile: emails)
    } catch {
        FileHandle.standardError.write(Data("api seed failed: \(error)\n".utf8))
        exit(1)
    }
default:
    FileHandle.standardError.write(Data("unknown benchmark '\(names[0])'; available: crypto, queue, ingest, api-seed\n".utf8))
    exit(2)
}
