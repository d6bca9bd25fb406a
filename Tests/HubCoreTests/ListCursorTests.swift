import HubCore
import Testing

@Suite("List cursors")
struct ListCursorTests {
    /// Found by scripts/fuzz (FuzzRecordsQuery): a key starting with a combining mark joined the
    /// kind's ':' into one grapheme, and the server refused its own cursor.
    @Test(arguments: ["1700000000000000,6a1f3c7e-2b4d-4e5f-8a9b-0c1d2e3f4a5b", "\u{035F}st", "é:x", "", "🧑‍💻"])
    func keysRoundTrip(_ key: String) {
        #expect(ListCursor.decode(ListCursor.encode(key, kind: "jobs"), kind: "jobs") == key)
    }

    @Test func anotherListsCursorIsRefused() {
        #expect(ListCursor.decode(ListCursor.encode("x", kind: "jobs"), kind: "syncs") == nil)
        #expect(ListCursor.decode(ListCursor.encode("x", kind: "jobs"), kind: "job") == nil)
        #expect(ListCursor.decode("not base64!", kind: "jobs") == nil)
    }
}
