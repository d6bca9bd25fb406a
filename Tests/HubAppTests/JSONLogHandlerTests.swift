import Foundation
@testable import HubApp
import HubCore
import Logging
import Testing

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    /// Captures what the handler writes through a pipe.
    func capture(_ body: (Logger) -> Void) throws -> [[String: Any]] {
        let pipe = Pipe()
        let output = JSONLogOutput(descriptor: pipe.fileHandleForWriting.fileDescriptor)
        var logger = Logger(label: "test") { label in JSONLogHandler(label: label, level: .info, output: output) }
        logger.logLevel = .info
        body(logger)
        try pipe.fileHandleForWriting.close()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
    }

    @Test func eachEventIsOneJSONObjectPerLine() throws {
        let lines = try capture { logger in
            logger.info("first \"quoted\"\nline", metadata: ["hub.tenant.id": "t1", "hub.count": "\(3)"])
            logger.debug("filtered out by level")
            logger.error("second", metadata: ["nested": ["a": "b"], "list": ["x", "y"]])
        }
        #expect(lines.count == 2)
        #expect(lines[0]["msg"] as? String == "first \"quoted\"\nline")
        #expect(lines[0]["level"] as? String == "info")
        #expect(lines[0]["hub.tenant.id"] as? String == "t1")
        #expect((lines[0]["ts"] as? String)?.hasSuffix("Z") == true)
        #expect((lines[1]["nested"] as? [String: String]) == ["a": "b"])
        #expect((lines[1]["list"] as? [String]) == ["x", "y"])
    }

    @Test func secretsInMessagesAndMetadataStayRedacted() throws {
        let token = Secret("tok_MARKER_9d2e")
        let pipe = Pipe()
        let output = JSONLogOutput(descriptor: pipe.fileHandleForWriting.fileDescriptor)
        let logger = Logger(label: "test") { label in JSONLogHandler(label: label, level: .trace, output: output) }
        logger.info("refreshing token \(token)", metadata: ["hub.token": "\(token)", "hub.secret": .stringConvertible(token)])
        try pipe.fileHandleForWriting.close()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("<redacted>"))
        #expect(!text.contains("MARKER"))
    }
}
