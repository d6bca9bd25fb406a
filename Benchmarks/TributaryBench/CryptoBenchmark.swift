import Crypto
import Foundation
import HubCore
import HubCrypto

/// Protecting a typical record (seal its 2 sensitive fields together, compute 1 blind index
/// and the keyed content hash) on one core, against swift-crypto's bare AES-GCM seal of the
/// same sensitive payload with a fresh random nonce: the floor any field encryption pays.
enum CryptoBenchmark {
    static let runs = 5
    static let secondsPerRun = 1.0

    static func run(json: Bool) async {
        let tenant = TenantID()
        let key = DataKey(tenant: tenant, version: 1, material: SymmetricKey(size: .bits256))
        let indexKey = DataKey(tenant: tenant, version: 1, material: SymmetricKey(size: .bits256))
        let policy = RecordPolicy(sensitiveFields: ["email", "phone"], blindIndexes: [BlindIndexField(name: "email", normalizer: .lowercaseTrim)])
        let records = (0..<1024).map { index -> [String: JSONValue] in
            [
                "id": .string("cus_\(100_000 + index)"), "name": .string("Customer \(index)"),
                "email": .string("customer\(index)@example.com"), "phone": .string("+1 555 01\(index % 100)"),
                "company": .string("Company \(index % 37)"), "plan": .string(index % 3 == 0 ? "pro" : "free"),
                "created_at": .string("2026-11-27T08:00:00Z"), "seats": .number(Double(index % 50)),
            ]
        }
        let payload = Array(#"{"email":"customer1000@example.com","phone":"+1 555 0110"}"#.utf8)
        let sealKey = SymmetricKey(size: .bits256)

        var ours: [Double] = []
        var bare: [Double] = []
        var sink = 0
        let protector = RecordProtector(policy: policy, key: key, indexKey: indexKey)
        // Alternating runs, so that a burst of load on the shared machine hits both alike.
        for _ in 0..<runs {
            ours.append(rate { count in
                let record = records[count & 1023]
                if let protected = try? protector.protect(record, row: "[\"2c9b0a1e-5d1f-4f0e-9a57-6f1c2b3d4e5f\",\"customers\",\"\(count)\"]") {
                    sink &+= Int(protected.contentHash[0])
                }
            })
            bare.append(rate { _ in
                if let box = try? AES.GCM.seal(payload, using: sealKey, nonce: AES.GCM.Nonce()) { sink &+= Int(box.tag.first ?? 0) }
            })
        }
        let oursBest = ours.max() ?? 0
        let bareBest = bare.max() ?? 0
        let ratio = bareBest > 0 ? oursBest / bareBest : 0
        if json {
            let figures: [String: Any] = [
                "benchmark": "crypto", "records_per_s": Int(oursBest), "bare_seal_per_s": Int(bareBest),
                "vs_bare_seal_ratio": (ratio * 1000).rounded() / 1000, "runs": runs, "seconds_per_run": secondsPerRun,
                "record_fields": 8, "sensitive_fields": 2, "blind_indexes": 1, "includes_content_hash": true,
                "records_per_s_all_runs": ours.map(Int.init), "bare_seal_per_s_all_runs": bare.map(Int.init),
            ]
            let data = (try? JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])) ?? Data()
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("crypto: protect one typical record on one core (best of \(runs) runs of \(secondsPerRun) s)")
            print("  record: 8 fields, 2 sensitive sealed together, 1 blind index, keyed content hash")
            print("  tributary RecordProtector.protect  \(format(oursBest)) records/s")
            print("  swift-crypto bare AES-GCM seal     \(format(bareBest)) seals/s  (the 2 fields' \(payload.count) bytes, random nonce)")
            print("  ratio (ours / bare seal)           \(String(format: "%.2f", ratio))x")
        }
        if sink == 42 { print("") }
    }

    /// Operations per second of `body` over `secondsPerRun`, on this thread.
    static func rate(_ body: (Int) -> Void) -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .seconds(secondsPerRun)
        var count = 0
        while true {
            for _ in 0..<256 {
                body(count)
                count += 1
            }
            if clock.now >= deadline { break }
        }
        let elapsed = clock.now - start
        return Double(count) / elapsed.inSeconds
    }

    static func format(_ value: Double) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.maximumFractionDigits = 0
        return (formatter.string(from: NSNumber(value: value)) ?? "\(Int(value))").padding(toLength: 10, withPad: " ", startingAt: 0)
    }
}
