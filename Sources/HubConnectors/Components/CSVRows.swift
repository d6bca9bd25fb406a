/// CSV read as CPython's `csv` module reads it with the default (excel) dialect, which is what
/// the CDK's `CsvDecoder` uses: a quote opens a quoted field, `""` inside one is a quote, text
/// after its closing quote joins the field, line breaks inside quotes are kept, and a blank line
/// is no row. Our own parser, not a package's: the CSV packages follow RFC 4180 and refuse or
/// read differently the inputs where Python is lenient, and records must come out as the CDK's.
struct CSVRows {
    let rows: [[String]]

    static func parse(_ text: String, delimiter: Character) -> CSVRows {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var inQuotes = false
        // The current field has begun (a character or a quote): a line holding only `""` is a
        // row of one empty field, a blank line no row at all.
        var fieldBegun = false
        var characters = text.makeIterator()
        var pending: Character?
        func next() -> Character? {
            if let held = pending { pending = nil; return held }
            return characters.next()
        }
        func endRow() {
            if fieldBegun || !row.isEmpty { row.append(field) }
            if !row.isEmpty { rows.append(row) }
            row = []
            field = ""
            fieldBegun = false
        }
        while let character = next() {
            if inQuotes {
                if character == "\"" {
                    if let following = next() {
                        if following == "\"" { field.append("\"") } else { inQuotes = false; pending = following }
                    } else {
                        inQuotes = false
                    }
                } else {
                    field.append(character)
                }
                continue
            }
            switch character {
            case delimiter:
                row.append(field)
                field = ""
                fieldBegun = false
            case "\r\n", "\n", "\r":
                endRow()
            case "\"" where !fieldBegun:
                inQuotes = true
                fieldBegun = true
            default:
                field.append(character)
                fieldBegun = true
            }
        }
        endRow()
        return CSVRows(rows: rows)
    }

    /// `csv.DictReader`: the first row names the fields; a short row's missing fields are None,
    /// a long row's extra ones go, as a list, under a None key, which the CDK writes as "null";
    /// values in `noneValues` become None.
    func dictionaries(noneValues: Set<String>) -> [PyValue] {
        guard let header = rows.first else { return [] }
        return rows.dropFirst().map { row in
            var record = PyDict()
            for (index, name) in header.enumerated() {
                if index < row.count, !noneValues.contains(row[index]) {
                    record[.string(name)] = .string(row[index])
                } else {
                    record[.string(name)] = PyValue.none
                }
            }
            if row.count > header.count {
                record["null"] = .list(row[header.count...].map { PyValue.string($0) })
            }
            return .dict(record)
        }
    }
}
