import Crypto
import Foundation
import HubCore
@testable import HubCrypto
import Testing

@Suite("Blind indexes and protected records")
struct RecordProtectorTests {
    let tenant = TenantID()
    let key: DataKey
    let indexKey: DataKey

    init() {
        key = DataKey(tenant: tenant, version: 1, material: SymmetricKey(size: .bits256))
        indexKey = DataKey(tenant: tenant, version: 1, material: SymmetricKey(size: .bits256))
    }

    @Test(arguments: [
        (BlindIndexNormalizer.exact, " Ann@X.com", " Ann@X.com"),
        (.lowercaseTrim, "  Ann@Example.COM \n", "ann@example.com"),
        (.digits, "+1 (555) 010-9999", "15550109999"),
    ])
    func normalizers(_ normalizer: BlindIndexNormalizer, _ input: String, _ expected: String) {
        #expect(normalizer.normalize(input) == expected)
    }

    /// Stored blind indexes were computed with Foundation's trim; the native one must agree.
    @Test func nativeTrimMatchesFoundations() {
        let samples = [
            "", " ", "\t\n\r\u{0B}\u{0C}", "plain", "  both  ", "\u{85}x\u{85}", "\u{A0}\u{1680}x\u{2000}\u{200A}\u{2028}\u{2029}",
            "\u{202F}\u{205F}\u{3000}x", "\u{200B}zero width is not space\u{200B}", "\u{FEFF}bom\u{FEFF}", " \u{301}combining ",
            "e\u{301} ", "👩‍💻 emoji ", "\u{1C}\u{1D}\u{1E}\u{1F}separators", "mid dle\u{3000}kept",
        ]
        for sample in samples {
            #expect(String(BlindIndexNormalizer.trimmingWhiteSpace(sample)) == sample.trimmingCharacters(in: .whitespacesAndNewlines),
                    "\(sample.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        // The two sets agree on every scalar. (Checked through CharacterSet, not by trimming
        // a string per scalar: that took seconds of a shared core in the full suite.)
        let foundation = CharacterSet.whitespacesAndNewlines
        var differing: [String] = []
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            if BlindIndexNormalizer.isTrimmed(scalar) != foundation.contains(scalar) { differing.append(String(value, radix: 16)) }
        }
        #expect(differing.isEmpty, "the trims differ on U+\(differing.prefix(10))")
    }

    @Test func canonicalJSONIsStableAndEscaped() {
        let value: JSONValue = ["b": [1, 2.5, nil, true], "a": "q\"uote\\ \n\u{01} é"]
        #expect(value.canonicalJSON == #"{"a":"q\"uote\\ \n\u0001 é","b":[1,2.5,null,true]}"#)
    }

    @Test func digestsMatchOnNormalizedValueOnlyWithinTenantAndField() {
        let email = BlindIndexField(name: "email", normalizer: .lowercaseTrim)
        let digest = BlindIndex.digest("Ann@Example.com", field: email, key: indexKey)
        #expect(digest.count == BlindIndex.length)
        #expect(BlindIndex.digest("  ann@example.com", field: email, key: indexKey) == digest)
        #expect(BlindIndex.digest("ann@example.org", field: email, key: indexKey) != digest)
        let otherField = BlindIndexField(name: "backup_email", normalizer: .lowercaseTrim)
        #expect(BlindIndex.digest("ann@example.com", field: otherField, key: indexKey) != digest)
        let otherTenant = DataKey(tenant: TenantID(), version: 1, material: SymmetricKey(size: .bits256))
        #expect(BlindIndex.digest("ann@example.com", field: email, key: otherTenant) != digest)
    }

    @Test func sensitiveFieldsAreSealedTogetherAndRevealedBack() throws {
        let policy = RecordPolicy(
            sensitiveFields: ["email", "phone"], blindIndexes: [BlindIndexField(name: "email", normalizer: .lowercaseTrim)]
        )
        let context = EncryptionContext(tenant: tenant, table: "records", column: "sensitive", row: "r1")
        let protector = RecordProtector(policy: policy, key: key, indexKey: indexKey)
        let fields: [String: JSONValue] = ["id": "42", "name": "Ann", "email": "ann@example.com", "phone": "+1 555", "age": 37]
        let protected = try protector.protect(fields, row: "r1")
        #expect(String(decoding: protected.plainJSON, as: UTF8.self) == #"{"age":37,"id":"42","name":"Ann"}"#)
        #expect(protected.blindIndex == [BlindIndex.digest("ann@example.com", field: policy.blindIndexes[0], key: indexKey)])
        let sealed = try #require(protected.sensitive)
        #expect(!String(decoding: sealed, as: UTF8.self).contains("ann@example.com"))
        let revealed = try RecordProtector.reveal(sealed, key: key, context: context)
        #expect(revealed.revealed == ["email": "ann@example.com", "phone": "+1 555"])
        #expect(protected.contentHash.count == 32)

        var changed = fields
        changed["phone"] = "+1 556"
        let other = try protector.protect(changed, row: "r1")
        #expect(other.contentHash != protected.contentHash, "a change in a sensitive field must change the hash")
        let same = try protector.protect(fields, row: "r1")
        #expect(same.contentHash == protected.contentHash)
        let noSensitive = try protector.protect(["id": "1"], row: "r1")
        #expect(noSensitive.sensitive == nil)
        // Sealed for its row: the same record protected for another row doesn't open here.
        let elsewhere = try #require(try protector.protect(fields, row: "r2").sensitive)
        #expect(throws: HubError.self) { try RecordProtector.reveal(elsewhere, key: key, context: context) }
    }
}
