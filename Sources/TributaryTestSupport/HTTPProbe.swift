import Foundation
import HubEmbeddedPostgres

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Plain HTTP GETs (and a POST) against a server under test.
public enum HTTPProbe {
    public static func get(_ url: String, headers: [String: String] = [:]) async -> (status: Int, body: String)? {
        guard let response = await fetch(url, headers: headers) else { return nil }
        return (response.status, response.body)
    }

    /// A POST of `body`; nil when nothing answered.
    public static func post(_ url: String, body: String, headers: [String: String] = [:], timeout: Double = 10) async -> (status: Int, body: String)? {
        guard let url = URL(string: url) else { return nil }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = Data(body.utf8)
        request.timeoutInterval = timeout
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        guard let (data, response) = try? await URLSession.shared.data(for: request), let http = response as? HTTPURLResponse else { return nil }
        return (http.statusCode, String(decoding: data, as: UTF8.self))
    }

    /// A GET with the response's headers too; gives up after `timeout`.
    public static func fetch(_ url: String, headers: [String: String] = [:], timeout: Double = 5) async
        -> (status: Int, body: String, headers: [String: String])?
    {
        guard let url = URL(string: url) else { return nil }
        var request = URLRequest(url: url)
        request.timeoutInterval = timeout
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        guard let (data, response) = try? await URLSession.shared.data(for: request),
            let http = response as? HTTPURLResponse
        else { return nil }
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name.lowercased()] = value }
        }
        return (http.statusCode, String(decoding: data, as: UTF8.self), fields)
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

/// A loopback TCP port free right now, for a server a test starts as a process.
public func freeTestPort() throws -> Int { try freeLoopbackPort() }
