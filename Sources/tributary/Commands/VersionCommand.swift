import ArgumentParser
import HubApp

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the version of this binary.",
        discussion: "Example:\n  tributary version"
    )

    func run() {
        print("tributary \(TributaryVersion.current)")
    }
}
