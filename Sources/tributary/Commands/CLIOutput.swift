import Foundation
import Synchronization

/// Formatting shared by the commands' human and `--json` output.
enum CLIOutput {
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Columns padded to their widest cell; fits 80 columns for the usual ids and counts.
    static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

/// Prints progress lines at most twice a second, and always the last one.
final class ProgressReporter: Sendable {
    private let lastPrinted = Mutex<ContinuousClock.Instant?>(nil)

    func report(_ line: String, final: Bool) {
        let now = ContinuousClock.now
        let due = lastPrinted.withLock { last -> Bool in
            guard final || last.map({ now - $0 >= .milliseconds(500) }) ?? true else { return false }
            last = now
            return true
        }
        // Written straight to the descriptor: progress must show even when stdout is a pipe.
        if due { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    }
}
