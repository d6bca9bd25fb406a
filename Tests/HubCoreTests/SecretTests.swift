import Foundation
import HubCore
import Testing

@Suite("Secret never prints its value")
struct SecretTests {
    let marker = "sk_live_MARKER_4f1c"

    @Test func descriptionAndInterpolationAreRedacted() {
        let secret = Secret(marker)
        #expect(secret.description == "<redacted>")
        #expect("\(secret)" == "<redacted>")
        #expect(!secret.debugDescription.contains(marker))
        #expect(!String(reflecting: secret).contains(marker))
        #expect(secret.revealed == marker)
    }

    @Test func dumpAndMirrorAreRedacted() {
        var dumped = ""
        dump(Secret(marker), to: &dumped)
        #expect(!dumped.contains(marker))
        struct Holder { let token: Secret<String> }
        var holderDump = ""
        dump(Holder(token: Secret(marker)), to: &holderDump)
        #expect(!holderDump.contains(marker))
        #expect(!"\(Holder(token: Secret(marker)))".contains(marker))
    }

    @Test func encodingWritesRedactedDecodingReadsValue() throws {
        struct Credentials: Codable { let apiKey: Secret<String> }
        let json = String(decoding: try JSONEncoder().encode(Credentials(apiKey: Secret(marker))), as: UTF8.self)
        #expect(json == #"{"apiKey":"<redacted>"}"#)
        let decoded = try JSONDecoder().decode(Credentials.self, from: Data(#"{"apiKey":"\#(marker)"}"#.utf8))
        #expect(decoded.apiKey.revealed == marker)
    }

    @Test func mapKeepsTheValueWrapped() {
        let length = Secret(marker).map(\.count)
        #expect(length.revealed == marker.count)
        #expect(length.description == "<redacted>")
    }
}

@Suite struct HubErrorTests {
    @Test func descriptionHoldsMessageAndDetail() {
        let error = HubError(.notFound, "connection 42 not found", detail: "tenant scope")
        #expect(error.description == "connection 42 not found (tenant scope)")
        #expect(error.code.rawValue == "not_found")
        #expect(HubError(.conflict, "x").description == "x")
    }

    @Test func tenantIDRoundTripsThroughJSONInLowerCase() throws {
        let id = TenantID()
        let data = try JSONEncoder().encode([id])
        #expect(String(decoding: data, as: UTF8.self) == "[\"\(id.description)\"]")
        #expect(id.description == id.description.lowercased())
        #expect(try JSONDecoder().decode([TenantID].self, from: data) == [id])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([TenantID].self, from: Data(#"["nope"]"#.utf8)) }
    }
}
