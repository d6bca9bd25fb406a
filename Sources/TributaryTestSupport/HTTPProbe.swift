import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Plain HTTP GETs against a server under test.
public enum HTTPProbe {
    public static func get(_ url: String, headers: [String: String] = [:]) async -> (status: Int, body: String)? {
        guard let url = URL(string: url) else { return nil }
        var request = URLRequest(url: url)
        request.timeoutInterval = 5
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        guard let (data, response) = try? await URLSession.shared.data(for: request),
            let http = response as? HTTPURLResponse
        else { return nil }
        return (http.statusCode, String(decoding: data, as: UTF8.self))
    }

    /// Polls until `url` answers `status`, or `timeout` passes; true if it did.
    public static func waitFor(_ url: String, status: Int = 200, timeout: Duration = .seconds(30)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let response = await get(url), response.status == status { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}

/// A fresh folder under the temporary directory, readable by other users so that the
/// embedded server's account can reach a cluster inside it when tests run as root.
public func makeScratchDirectory(_ prefix: String = "tributary") throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    chmod(path, 0o755)
    return path
}
