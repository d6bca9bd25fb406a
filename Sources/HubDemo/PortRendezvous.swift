/// Ports of servers that start concurrently, for the demo driver to wait on.
actor PortRendezvous {
    private var ports: [String: Int] = [:]
    private var waiting: [String: [CheckedContinuation<Int, Never>]] = [:]

    func publish(_ name: String, _ port: Int) {
        ports[name] = port
        for continuation in waiting.removeValue(forKey: name) ?? [] { continuation.resume(returning: port) }
    }

    func port(_ name: String) async -> Int {
        if let port = ports[name] { return port }
        return await withCheckedContinuation { waiting[name, default: []].append($0) }
    }
}
