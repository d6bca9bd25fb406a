import Foundation

/// The demo's human output: to stdout, or to stderr when stdout carries the `--json` line.
/// Every line fits an 80-column terminal.
struct DemoConsole: Sendable {
    let json: Bool

    func line(_ text: String = "") {
        let output = text + "\n"
        if json { FileHandle.standardError.write(Data(output.utf8)) } else { FileHandle.standardOutput.write(Data(output.utf8)) }
    }

    func step(_ text: String) { line("==> \(text)") }

    /// The one machine-readable line, on stdout.
    func emitJSON(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    static func grouped(_ number: Int) -> String {
        let digits = String(number)
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return result
    }
}
