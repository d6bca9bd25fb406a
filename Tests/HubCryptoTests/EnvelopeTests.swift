import Crypto
import HubCore
@testable import HubCrypto
import Testing

@Suite("The ciphertext envelope")
struct EnvelopeTests {
    let tenant = TenantID()
    let key: DataKey
    let context: EncryptionContext

    init() {
        key = DataKey(tenant: tenant, version: 3, material: SymmetricKey(size: .bits256))
        context = EncryptionContext(tenant: tenant, table: "records", column: "sensitive", row: "[\"c\",\"s\",\"42\"]")
    }

    @Test func roundTripsAndRecordsItsKeyVersion() throws {
        let plaintext = Array(#"{"email":"ann@example.com"}"#.utf8)
        let sealed = try Envelope.seal(plaintext, with: key, context: context)
        #expect(sealed.count == plaintext.count + 5 + 12 + 16)
        #expect(sealed[0] == 1)
        #expect(try Envelope.keyVersion(of: sealed) == 3)
        #expect(try Envelope.open(sealed, with: key, context: context).revealed == plaintext)
        #expect(try Envelope.open(try Envelope.seal([], with: key, context: context), with: key, context: context).revealed == [])
    }

    @Test func sealingTwiceGivesDifferentCiphertexts() throws {
        let plaintext = Array("same".utf8)
        #expect(try Envelope.seal(plaintext, with: key, context: context) != Envelope.seal(plaintext, with: key, context: context))
    }

    @Test func everySingleByteFlipFailsToOpen() throws {
        let sealed = try Envelope.seal(Array("card 4242 4242 4242 4242".utf8), with: key, context: context)
        for index in sealed.indices {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var altered = sealed
                altered[index] ^= mask
                #expect(throws: HubError.self, "byte \(index) ^ \(mask) opened") {
                    try Envelope.open(altered, with: key, context: context)
                }
            }
        }
        #expect(throws: HubError.self) { try Envelope.open(Array(sealed.dropLast()), with: key, context: context) }
        #expect(throws: HubError.self) { try Envelope.open(sealed + [0], with: key, context: context) }
    }

    @Test func aCiphertextMovedAnywhereElseFailsToOpen() throws {
        let sealed = try Envelope.seal(Array("secret".utf8), with: key, context: context)
        let otherTenant = TenantID()
        let elsewhere = [
            EncryptionContext(tenant: tenant, table: "records", column: "sensitive", row: "[\"c\",\"s\",\"43\"]"),
            EncryptionContext(tenant: tenant, table: "records", column: "other", row: context.row),
            EncryptionContext(tenant: tenant, table: "connections", column: "sensitive", row: context.row),
            EncryptionContext(tenant: otherTenant, table: "records", column: "sensitive", row: context.row),
        ]
        for other in elsewhere {
            let error = #expect(throws: HubError.self) { try Envelope.open(sealed, with: key, context: other) }
            #expect(error?.code == .decryptionFailed)
            #expect(error?.message.contains("secret") == false)
        }
        let otherTenantKey = DataKey(tenant: otherTenant, version: 3, material: SymmetricKey(size: .bits256))
        #expect(throws: HubError.self) { try Envelope.open(sealed, with: otherTenantKey, context: context) }
    }

    @Test func subkeysDifferByPurposeFieldAndTenant() {
        func bytes(_ key: SymmetricKey) -> [UInt8] { key.withUnsafeBytes { Array($0) } }
        let material = SymmetricKey(size: .bits256)
        let a = DataKey(tenant: tenant, version: 1, material: material)
        let b = DataKey(tenant: TenantID(), version: 1, material: material)
        #expect(bytes(a.subkey(.encryption, field: "x")) != bytes(a.subkey(.encryption, field: "y")))
        #expect(bytes(a.subkey(.encryption, field: "x")) != bytes(a.subkey(.blindIndex, field: "x")))
        #expect(bytes(a.subkey(.encryption, field: "x")) != bytes(b.subkey(.encryption, field: "x")))
        #expect(bytes(a.subkey(.encryption, field: "x")) == bytes(a.subkey(.encryption, field: "x")))
    }

    @Test func noncesNeverRepeat() {
        var seen = Set<[UInt8]>()
        for _ in 0..<20_000 { seen.insert(Array(NonceSource.shared.next())) }
        #expect(seen.count == 20_000)
    }
}
