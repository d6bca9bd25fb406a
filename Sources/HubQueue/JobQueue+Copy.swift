import HubCore
import HubDatabase
import NIOCore
import PostgresNIO

extension JobQueue {
    /// Enqueues jobs with COPY, in one transaction with the NOTIFY that wakes workers: several
    /// times faster than an INSERT of the same rows, since nothing is parsed per row but the
    /// values themselves.
    func copy(_ requests: [JobRequest]) async throws -> Int {
        try await withDatabaseErrors("enqueueing \(requests.count) jobs") {
            try await client.withGuardedTransaction(logger: logger) { connection in
                try await connection.copyFrom(
                    table: "jobs", columns: ["kind", "queue", "args", "priority", "max_attempts", "group_key", "group_limit"],
                    logger: logger
                ) { writer in
                    var buffer = ByteBuffer()
                    buffer.reserveCapacity(requests.count * 64)
                    for request in requests {
                        Self.appendCopyText(request.kind, to: &buffer)
                        buffer.writeInteger(UInt8(ascii: "\t"))
                        Self.appendCopyText(request.queue, to: &buffer)
                        buffer.writeInteger(UInt8(ascii: "\t"))
                        Self.appendCopyText(request.args.canonicalJSON, to: &buffer)
                        buffer.writeString("\t\(request.priority)\t\(request.maxAttempts)\t")
                        if let group = request.groupKey { Self.appendCopyText(group, to: &buffer) } else { buffer.writeString("\\N") }
                        buffer.writeString(request.groupLimit.map { "\t\($0)\n" } ?? "\t\\N\n")
                        if buffer.readableBytes > 1 << 20 {
                            try await writer.write(buffer)
                            buffer.clear()
                        }
                    }
                    if buffer.readableBytes > 0 { try await writer.write(buffer) }
                }
                for queue in Set(requests.map(\.queue)) {
                    try await connection.query("SELECT pg_notify(\(Self.wakeChannel), \(queue))", logger: logger)
                }
                return requests.count
            }
        }
    }

    /// COPY's text format: backslash, tab, newline and carriage return must be escaped.
    static func appendCopyText(_ value: String, to buffer: inout ByteBuffer) {
        let utf8 = value.utf8
        if !utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            buffer.writeString(value)
            return
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.writeString("\\\\")
            case 0x09: buffer.writeString("\\t")
            case 0x0A: buffer.writeString("\\n")
            case 0x0D: buffer.writeString("\\r")
            default: buffer.writeInteger(byte)
            }
        }
    }
}
