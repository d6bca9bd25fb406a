@testable import HubStore
import Testing

@Suite("Splitting migration scripts into statements")
struct SQLScriptTests {
    @Test func splitsOnSemicolonsAndTrims() {
        #expect(SQLScript.statements(in: "CREATE TABLE a (x int);\n\n  SELECT 1 ;") == ["CREATE TABLE a (x int)", "SELECT 1"])
    }

    @Test func keepsSemicolonsInsideLiteralsIdentifiersAndComments() {
        let script = """
            -- a comment; not a split
            INSERT INTO t VALUES ('a;b', 'it''s; fine', E'back\\\\'';x');
            /* block; /* nested; */ still comment; */
            SELECT "weird;name" FROM t;
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 2)
        #expect(statements[0].hasSuffix("E'back\\\\'';x')"))
        #expect(statements[1].hasPrefix("/* block"))
        #expect(statements[1].hasSuffix("FROM t"))
    }

    @Test func keepsDollarQuotedBodiesWhole() {
        let script = """
            CREATE FUNCTION f() RETURNS int AS $fn$ BEGIN PERFORM 1; RETURN 2; END $fn$ LANGUAGE plpgsql;
            DO $$ BEGIN RAISE NOTICE 'x;y'; END $$;
            SELECT $1, a$b FROM t
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 3)
        #expect(statements[0].hasSuffix("LANGUAGE plpgsql"))
        #expect(statements[1] == "DO $$ BEGIN RAISE NOTICE 'x;y'; END $$")
        #expect(statements[2] == "SELECT $1, a$b FROM t")
    }

    @Test func dropsCommentOnlyAndEmptyStatements() {
        #expect(SQLScript.statements(in: "-- only a comment\n;;\n/* x */;  ").isEmpty)
        #expect(SQLScript.statements(in: "").isEmpty)
    }
}
