// The PostgreSQL JDBC driver (Debian's libpostgresql-jdbc-java) through the Tianmu
// firewall, compared with a direct connection.
//
// Compiled and run by tests/firewall_drivers.rs:
//
//     javac -cp /usr/share/java/postgresql.jar -d OUT tests/drivers/JdbcCheck.java
//     java -cp OUT:/usr/share/java/postgresql.jar [-Dtianmu.checks=NAME,...] JdbcCheck PROXY_PORT [DIRECT_PORT]
//
// Every `same*` check runs once straight on the server (127.0.0.1:DIRECT_PORT, default
// 5432) and once through the firewall, as the same account, and compares the results.
// Every `policy*` check runs through the firewall only and checks what the demo policy
// does (deploy/demo/policy.toml). Prints `ok NAME: ...` per check, `FAIL NAME: ...` with
// both sides on a mismatch, and exits 1 when any check failed. Without -Dtianmu.checks,
// every check runs but those of ON_REQUEST. The demo tables are only read; writes go to
// TEMP tables.

import java.sql.*;
import java.util.*;

public class JdbcCheck {
    static int proxy;
    static int direct = 5432;

    static class Bad extends Exception {
        private static final long serialVersionUID = 1L;

        Bad(String what) {
            super(what);
        }
    }

    interface Check {
        List<Object> run(Connection c) throws Exception;
    }

    interface PolicyCheck {
        String run() throws Exception;
    }

    static Connection connect(int port, String user, String extra) throws SQLException {
        String url = "jdbc:postgresql://127.0.0.1:" + port + "/publicdata?connectTimeout=10"
                + "&socketTimeout=60" + extra;
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", user);
        return DriverManager.getConnection(url, p);
    }

    static void expect(boolean cond, String what) throws Bad {
        if (!cond) {
            throw new Bad(what);
        }
    }

    /** Column labels, JDBC types and every value as a string, row by row. */
    static List<Object> rows(ResultSet rs) throws SQLException {
        List<Object> out = new ArrayList<>();
        ResultSetMetaData md = rs.getMetaData();
        List<String> head = new ArrayList<>();
        for (int i = 1; i <= md.getColumnCount(); i++) {
            head.add(md.getColumnLabel(i) + ":" + md.getColumnType(i));
        }
        out.add(head);
        while (rs.next()) {
            List<String> row = new ArrayList<>();
            for (int i = 1; i <= md.getColumnCount(); i++) {
                row.add(rs.getString(i));
            }
            out.add(row);
        }
        rs.close();
        return out;
    }

    // --- results that must be identical --------------------------------------------

    static List<Object> sameStatement(Connection c) throws Exception {
        List<Object> out = new ArrayList<>();
        try (Statement st = c.createStatement()) {
            out.add(rows(st.executeQuery(
                    "SELECT uscc, name, legal_rep_id_card, registered_capital FROM legal_person "
                            + "ORDER BY uscc LIMIT 50")));
            out.add(rows(st.executeQuery(
                    "SELECT license_type, count(*) FROM license GROUP BY 1 ORDER BY 1")));
            // Several statements in one: one result each.
            boolean isRs = st.execute("SELECT 1 AS a; SELECT 'two' AS b, NULL AS c; SHOW server_version");
            while (isRs || st.getUpdateCount() != -1) {
                if (isRs) {
                    out.add(rows(st.getResultSet()));
                } else {
                    out.add("update " + st.getUpdateCount());
                }
                isRs = st.getMoreResults();
            }
            st.execute("CREATE TEMP TABLE drv_st(a int, b text)");
            out.add(st.executeUpdate("INSERT INTO drv_st SELECT g, 'v' || g FROM generate_series(1, 75) g"));
            out.add(st.executeUpdate("UPDATE drv_st SET b = 'even' WHERE a % 2 = 0"));
            out.add(rows(st.executeQuery("SELECT b, count(*), sum(a) FROM drv_st GROUP BY b ORDER BY b LIMIT 5")));
            st.execute("DROP TABLE drv_st");
        }
        return out;
    }

    static List<Object> samePrepared(Connection c) throws Exception {
        return samePrepared(c, true);
    }

    /** `bytea`: false for preferQueryMode=simple, where the driver cannot inline a bytea. */
    static List<Object> samePrepared(Connection c, boolean bytea) throws Exception {
        List<Object> out = new ArrayList<>();
        // Default prepareThreshold (5): unnamed statements first, a named one from the 5th.
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT id, title, category, publish_date FROM open_dataset WHERE id BETWEEN ? AND ? ORDER BY id")) {
            for (int i = 0; i < 9; i++) {
                ps.setLong(1, i * 10L);
                ps.setLong(2, i * 10L + 4);
                out.add(rows(ps.executeQuery()));
            }
        }
        // prepareThreshold=1: a server-side named statement from the first execution,
        // binary results for the types the driver reads in binary.
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT id, name, id_card, birth_date FROM population WHERE id = ?")) {
            ps.unwrap(org.postgresql.PGStatement.class).setPrepareThreshold(1);
            for (long id = 1; id <= 6; id++) {
                ps.setLong(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(List.of(rs.getLong(1), rs.getString(2), rs.getString(3),
                                String.valueOf(rs.getDate(4))));
                    }
                }
            }
            out.add(ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare());
        }
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT uscc, registered_capital, ?::int + 1, ?::text, ?::date, "
                        + (bytea ? "?::bytea" : "?::text") + ", ?::float8 "
                        + "FROM legal_person WHERE registered_capital > ? ORDER BY uscc LIMIT 5")) {
            ps.unwrap(org.postgresql.PGStatement.class).setPrepareThreshold(1);
            for (int i = 0; i < 3; i++) {
                ps.setInt(1, 41 + i);
                ps.setString(2, "天目 " + i);
                ps.setDate(3, java.sql.Date.valueOf("2024-02-2" + i));
                if (bytea) {
                    ps.setBytes(4, new byte[] {0, (byte) 0xff, (byte) i});
                } else {
                    ps.setString(4, "no bytea " + i);
                }
                ps.setDouble(5, 1.5 * i);
                ps.setBigDecimal(6, new java.math.BigDecimal("1000.50"));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(List.of(rs.getString(1), rs.getBigDecimal(2).toPlainString(),
                                rs.getInt(3), rs.getString(4), String.valueOf(rs.getDate(5)),
                                bytea ? Arrays.toString(rs.getBytes(6)) : rs.getString(6), rs.getDouble(7)));
                    }
                }
            }
        }
        // A null parameter, and a statement re-used after an error.
        try (PreparedStatement ps = c.prepareStatement("SELECT 10 / ?::int, ?::text IS NULL")) {
            ps.unwrap(org.postgresql.PGStatement.class).setPrepareThreshold(1);
            for (int d : new int[] {5, 0, 2}) {
                ps.setInt(1, d);
                ps.setNull(2, Types.VARCHAR);
                try {
                    out.add(rows(ps.executeQuery()));
                } catch (SQLException e) {
                    out.add("error " + e.getSQLState() + " " + e.getMessage());
                }
            }
        }
        // The named statements the driver made exist on the server under the driver's names.
        try (Statement st = c.createStatement()) {
            out.add(rows(st.executeQuery(
                    "SELECT name, statement, parameter_types::text FROM pg_prepared_statements ORDER BY name")));
        }
        return out;
    }

    static List<Object> sameFetchSize(Connection c) throws Exception {
        List<Object> out = new ArrayList<>();
        c.setAutoCommit(false);
        // A portal run with a row limit: Execute(50), PortalSuspended, Execute(50), ...
        try (Statement st = c.createStatement()) {
            st.setFetchSize(50);
            out.add(rows(st.executeQuery(
                    "SELECT uscc, name, legal_rep_name, registered_capital FROM legal_person ORDER BY uscc LIMIT 2000")));
        }
        // Two suspended portals read in turns.
        try (PreparedStatement a = c.prepareStatement(
                        "SELECT id, title FROM open_dataset WHERE id > ? ORDER BY id");
                PreparedStatement b = c.prepareStatement(
                        "SELECT id, license_type FROM license WHERE id > ? ORDER BY id LIMIT 700")) {
            a.setFetchSize(7);
            b.setFetchSize(64);
            a.setLong(1, 100);
            b.setLong(1, 5);
            try (ResultSet ra = a.executeQuery(); ResultSet rb = b.executeQuery()) {
                boolean moreA = true;
                boolean moreB = true;
                while (moreA || moreB) {
                    if (moreA && (moreA = ra.next())) {
                        out.add("a " + ra.getLong(1) + " " + ra.getString(2));
                    }
                    for (int i = 0; i < 3 && moreB; i++) {
                        if (moreB = rb.next()) {
                            out.add("b " + rb.getLong(1) + " " + rb.getString(2));
                        }
                    }
                }
            }
        }
        // Named statement and fetch size together, closed before the end.
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT id, name, birth_date FROM population WHERE id < ? ORDER BY id")) {
            ps.unwrap(org.postgresql.PGStatement.class).setPrepareThreshold(1);
            ps.setFetchSize(30);
            for (int round = 0; round < 2; round++) {
                ps.setLong(1, 1000 + round);
                try (ResultSet rs = ps.executeQuery()) {
                    int n = 0;
                    while (n < 95 && rs.next()) {
                        out.add(rs.getLong(1) + " " + rs.getString(2) + " " + rs.getDate(3));
                        n++;
                    }
                }
            }
        }
        c.commit();
        return out;
    }

    static List<Object> sameBatch(Connection c) throws Exception {
        List<Object> out = new ArrayList<>();
        try (Statement st = c.createStatement()) {
            st.execute("CREATE TEMP TABLE drv_batch(a int, b text, c numeric)");
        }
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO drv_batch VALUES (?, ?, ?)")) {
            for (int i = 0; i < 500; i++) {
                ps.setInt(1, i);
                ps.setString(2, "row " + i);
                ps.setBigDecimal(3, i % 5 == 0 ? null : new java.math.BigDecimal(i + ".25"));
                ps.addBatch();
            }
            out.add(Arrays.toString(ps.executeBatch()));
        }
        try (Statement st = c.createStatement()) {
            for (int i = 0; i < 20; i++) {
                st.addBatch("INSERT INTO drv_batch VALUES (" + (1000 + i) + ", 'stmt', 1)");
            }
            st.addBatch("UPDATE drv_batch SET b = 'five' WHERE a % 5 = 0");
            out.add(Arrays.toString(st.executeBatch()));
            out.add(rows(st.executeQuery(
                    "SELECT count(*), sum(a), count(c), sum(c), count(DISTINCT b) FROM drv_batch")));
            out.add(rows(st.executeQuery("SELECT * FROM drv_batch ORDER BY a LIMIT 12")));
        }
        // A batch with a failing row: BatchUpdateException, nothing of it kept in a transaction.
        c.setAutoCommit(false);
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO drv_batch VALUES (?, 'x', 10 / ?)")) {
            for (int i = 0; i < 5; i++) {
                ps.setInt(1, 2000 + i);
                ps.setInt(2, 3 - i);
                ps.addBatch();
            }
            ps.executeBatch();
            out.add("no error");
        } catch (BatchUpdateException e) {
            out.add("batch error " + e.getSQLState() + " " + Arrays.toString(e.getUpdateCounts()));
        }
        c.rollback();
        try (Statement st = c.createStatement()) {
            out.add(rows(st.executeQuery("SELECT count(*) FROM drv_batch WHERE a >= 2000")));
        }
        c.rollback();
        c.setAutoCommit(true);
        try (Statement st = c.createStatement()) {
            st.execute("DROP TABLE drv_batch");
        }
        return out;
    }

    static List<Object> sameTransactions(Connection c) throws Exception {
        List<Object> out = new ArrayList<>();
        try (Statement st = c.createStatement()) {
            st.execute("CREATE TEMP TABLE drv_tx(a int)");
            c.setAutoCommit(false);
            st.execute("INSERT INTO drv_tx VALUES (1), (2)");
            c.rollback();
            out.add(rows(st.executeQuery("SELECT count(*) FROM drv_tx")));
            st.execute("INSERT INTO drv_tx VALUES (10)");
            Savepoint sp = c.setSavepoint();
            st.execute("INSERT INTO drv_tx VALUES (20)");
            c.rollback(sp);
            st.execute("INSERT INTO drv_tx VALUES (30)");
            c.commit();
            out.add(rows(st.executeQuery("SELECT array_agg(a ORDER BY a) FROM drv_tx")));
            try {
                st.executeQuery("SELECT 1 / 0");
            } catch (SQLException e) {
                out.add("error " + e.getSQLState() + " " + e.getMessage());
            }
            try {
                st.executeQuery("SELECT 1");
            } catch (SQLException e) {
                out.add("aborted " + e.getSQLState());
            }
            c.rollback();
            out.add(rows(st.executeQuery("SELECT count(*) FROM drv_tx")));
            c.rollback();
            c.setAutoCommit(true);
            st.execute("DROP TABLE drv_tx");
        }
        return out;
    }

    static List<Object> sameErrors(Connection c) throws Exception {
        List<Object> out = new ArrayList<>();
        for (String sql : new String[] {"SELECT * FROM no_such_table", "SELEC 1", "SELECT 'x'::int"}) {
            try (Statement st = c.createStatement()) {
                st.executeQuery(sql);
                out.add("no error " + sql);
            } catch (SQLException e) {
                out.add(e.getSQLState() + " " + e.getMessage());
            }
        }
        try (Statement st = c.createStatement()) {
            out.add(rows(st.executeQuery("SELECT 'still usable'")));
        }
        return out;
    }

    static String runSame(String name, Check check, String extra) throws Exception {
        String d;
        String p;
        try (Connection c = connect(direct, "dba_admin", extra)) {
            d = check.run(c).toString();
        }
        try (Connection c = connect(proxy, "dba_admin", extra)) {
            p = check.run(c).toString();
        }
        if (!d.equals(p)) {
            int at = 0;
            while (at < d.length() && at < p.length() && d.charAt(at) == p.charAt(at)) {
                at++;
            }
            int lo = Math.max(0, at - 200);
            throw new Bad("results differ at char " + at + ":\n  direct: ..."
                    + d.substring(lo, Math.min(d.length(), at + 300)) + "\n  proxy:  ..."
                    + p.substring(lo, Math.min(p.length(), at + 300)));
        }
        return "identical (" + p.length() + " chars of results)";
    }

    // --- what the policy does -------------------------------------------------------

    static String maskedCard(String real) {
        return real.substring(0, 6) + "********" + real.substring(14);
    }

    static String maskedName(String real) {
        int first = real.offsetByCodePoints(0, 1);
        return real.substring(0, first) + "*".repeat(real.codePointCount(first, real.length()));
    }

    static void expectBlocked(Connection c, String sql, Long param) throws Exception {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.unwrap(org.postgresql.PGStatement.class).setPrepareThreshold(1);
            if (param != null) {
                ps.setLong(1, param);
            }
            ps.executeQuery();
            throw new Bad("not blocked: " + sql);
        } catch (SQLException e) {
            expect("42501".equals(e.getSQLState()), "SQLState of " + sql + ": " + e.getSQLState() + " " + e);
            expect(e.getMessage().contains("blocked by the data firewall (rule "), "message: " + e.getMessage());
        }
    }

    static long count(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static String policyBlocked() throws Exception {
        int n = 0;
        try (Connection c = connect(proxy, "app_portal", "")) {
            // Autocommit: the next statement just works.
            try (Statement st = c.createStatement()) {
                st.executeQuery("SELECT * FROM bank_account");
                throw new Bad("SELECT * FROM bank_account was not blocked for app_portal");
            } catch (SQLException e) {
                expect("42501".equals(e.getSQLState()), "SQLState " + e.getSQLState() + " " + e);
                n++;
            }
            expect(count(c, "SELECT count(*) FROM open_dataset") == 1000, "usable after a block");
            // Server-side named statements, with and without parameters.
            expectBlocked(c, "SELECT name FROM population WHERE id = ? OR 1=1", 1L);
            expectBlocked(c, "SELECT card_no FROM bank_account WHERE id = ?", 1L);
            n += 2;
            expect(count(c, "SELECT count(*) FROM open_dataset") == 1000, "usable after named blocks");
            // In a transaction: aborted until rollback, then usable.
            c.setAutoCommit(false);
            expect(count(c, "SELECT count(*) FROM license WHERE id < 10") == 9, "license read");
            expectBlocked(c, "SELECT * FROM bank_account WHERE id = ?", 2L);
            n++;
            try {
                count(c, "SELECT 1");
                throw new Bad("the transaction was not aborted by the block");
            } catch (SQLException e) {
                expect("25P02".equals(e.getSQLState()), "after a block in a transaction: " + e.getSQLState() + " " + e);
            }
            c.rollback();
            expect(count(c, "SELECT count(*) FROM open_dataset") == 1000, "usable after rollback");
            c.commit();
            // A block inside a batch.
            try (Statement st = c.createStatement()) {
                st.addBatch("UPDATE population SET name = name WHERE id = 1");
                st.addBatch("DELETE FROM license");
                st.executeBatch();
                throw new Bad("a batch with DELETE without WHERE ran");
            } catch (BatchUpdateException e) {
                expect("42501".equals(e.getSQLState()), "batch block: " + e.getSQLState() + " " + e);
                n++;
            }
            c.rollback();
            expect(count(c, "SELECT count(*) FROM license") == 30000, "license intact after the batch");
            c.rollback();
        }
        return n + " blocks with 42501, connection usable afterwards";
    }

    static String policyMasked() throws Exception {
        List<String[]> real = new ArrayList<>();
        try (Connection c = connect(direct, "postgres", "");
                Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT id, name, id_card FROM population WHERE id <= 120 ORDER BY id")) {
            while (rs.next()) {
                real.add(new String[] {rs.getString(1), rs.getString(2), rs.getString(3)});
            }
        }
        int ways = 0;
        // app_portal (clearance 3): ID cards masked, names real; unnamed and named statements.
        try (Connection c = connect(proxy, "app_portal", "");
                PreparedStatement ps = c.prepareStatement("SELECT id, name, id_card FROM population WHERE id = ?")) {
            for (int round = 0; round < 7; round++) { // named from the 5th execution
                int i = round % 3;
                ps.setLong(1, i + 1);
                try (ResultSet rs = ps.executeQuery()) {
                    expect(rs.next(), "a row");
                    String got = rs.getString(2) + "|" + rs.getString(3);
                    String want = real.get(i)[1] + "|" + maskedCard(real.get(i)[2]);
                    expect(got.equals(want), "app_portal round " + round + ": got " + got + ", want " + want);
                }
                ways++;
            }
        }
        // analyst_li (clearance 2): names masked too, across portal suspensions.
        try (Connection c = connect(proxy, "analyst_li", "")) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("SELECT id, name FROM population WHERE id <= ? ORDER BY id")) {
                ps.setFetchSize(25);
                ps.unwrap(org.postgresql.PGStatement.class).setPrepareThreshold(1);
                ps.setLong(1, 120);
                try (ResultSet rs = ps.executeQuery()) {
                    int n = 0;
                    while (rs.next()) {
                        String want = maskedName(real.get(n)[1]);
                        expect(rs.getString(2).equals(want), "analyst_li row " + n + ": got " + rs.getString(2) + ", want " + want);
                        n++;
                    }
                    expect(n == 120, "analyst_li rows: " + n);
                }
            }
            c.commit();
            ways++;
        }
        return ways + " ways masked as the policy says";
    }

    /** The connection is closed right after the cut: see policyUsableAfterLimit. */
    static String policyRowLimit() throws Exception {
        try (Connection c = connect(proxy, "app_portal", "")) {
            c.setAutoCommit(false);
            int n = 0;
            try (Statement st = c.createStatement()) {
                st.setFetchSize(50); // Execute with a row limit, PortalSuspended, again
                try (ResultSet rs = st.executeQuery("SELECT id FROM population ORDER BY id LIMIT 300")) {
                    while (rs.next()) {
                        n++;
                    }
                }
                throw new Bad("read " + n + " rows past the 200-row limit");
            } catch (SQLException e) {
                expect("54000".equals(e.getSQLState()), "limit SQLState: " + e.getSQLState() + " " + e);
                expect(e.getMessage().contains("limit of 200 rows"), "limit error: " + e);
                expect(n == 200, "rows before the limit error: " + n);
            }
            return "limit error (54000) after " + n + " rows fetched 50 at a time";
        }
    }

    /**
     * After a cut the client has its error and ReadyForQuery; what it sends next must run.
     * The firewall cancels the cut statement upstream, and that cancel must not land on a
     * later statement (57014 "canceling statement due to user request").
     */
    static String policyUsableAfterLimit() throws Exception {
        List<String> spurious = new ArrayList<>();
        int rounds = 40;
        try (Connection c = connect(proxy, "app_portal", "")) {
            c.setAutoCommit(false);
            for (int i = 0; i < rounds; i++) {
                try (Statement st = c.createStatement()) {
                    st.setFetchSize(i % 2 == 0 ? 50 : 0);
                    try (ResultSet rs = st.executeQuery("SELECT id FROM population ORDER BY id LIMIT 300")) {
                        while (rs.next()) {
                            // read on
                        }
                    }
                    throw new Bad("300 rows passed the 200-row limit");
                } catch (SQLException e) {
                    if (!"54000".equals(e.getSQLState())) {
                        spurious.add("round " + i + ", the limited statement itself: " + e.getSQLState() + " " + e.getMessage());
                    }
                }
                c.rollback();
                for (int k = 1; k <= 3; k++) {
                    try {
                        count(c, "SELECT count(*) FROM open_dataset");
                    } catch (SQLException e) {
                        spurious.add("round " + i + ", statement " + k + " after the cut: " + e.getSQLState() + " " + e.getMessage());
                        c.rollback();
                    }
                }
                c.commit();
            }
        }
        expect(spurious.isEmpty(), spurious.size() + " statements failed after " + rounds + " cuts: "
                + String.join("; ", spurious));
        return rounds + " cuts, every statement after them ran";
    }

    /** Run only when named in -Dtianmu.checks (a known firewall bug; tests/firewall_drivers.rs). */
    static final Set<String> ON_REQUEST = Set.of("policyUsableAfterLimit");

    public static void main(String[] args) throws Exception {
        proxy = Integer.parseInt(args[0]);
        if (args.length > 1) {
            direct = Integer.parseInt(args[1]);
        }
        try (Connection c = connect(direct, "dba_admin", "")) {
            DatabaseMetaData md = c.getMetaData();
            System.out.println(md.getDriverName() + " " + md.getDriverVersion() + ", server "
                    + md.getDatabaseProductVersion());
        }
        Map<String, PolicyCheck> checks = new LinkedHashMap<>();
        checks.put("sameStatement", () -> runSame("sameStatement", JdbcCheck::sameStatement, ""));
        checks.put("samePrepared", () -> runSame("samePrepared", JdbcCheck::samePrepared, ""));
        checks.put("samePreparedThreshold1", () -> runSame("samePreparedThreshold1", JdbcCheck::samePrepared, "&prepareThreshold=1"));
        checks.put("samePreparedForceBinary", () -> runSame("samePreparedForceBinary", JdbcCheck::samePrepared, "&prepareThreshold=-1"));
        checks.put("sameSimpleProtocol", () -> runSame("sameSimpleProtocol", c -> samePrepared(c, false), "&preferQueryMode=simple"));
        checks.put("sameFetchSize", () -> runSame("sameFetchSize", JdbcCheck::sameFetchSize, ""));
        checks.put("sameFetchSizeThreshold1", () -> runSame("sameFetchSizeThreshold1", JdbcCheck::sameFetchSize, "&prepareThreshold=1"));
        checks.put("sameBatch", () -> runSame("sameBatch", JdbcCheck::sameBatch, ""));
        checks.put("sameBatchRewritten", () -> runSame("sameBatchRewritten", JdbcCheck::sameBatch, "&reWriteBatchedInserts=true"));
        checks.put("sameTransactions", () -> runSame("sameTransactions", JdbcCheck::sameTransactions, ""));
        checks.put("sameErrors", () -> runSame("sameErrors", JdbcCheck::sameErrors, ""));
        checks.put("policyBlocked", JdbcCheck::policyBlocked);
        checks.put("policyMasked", JdbcCheck::policyMasked);
        checks.put("policyRowLimit", JdbcCheck::policyRowLimit);
        checks.put("policyUsableAfterLimit", JdbcCheck::policyUsableAfterLimit);
        String only = System.getProperty("tianmu.checks");
        if (only != null) {
            List<String> named = Arrays.asList(only.split(","));
            for (String name : named) {
                if (!checks.containsKey(name)) {
                    System.out.println("no such check: " + name);
                    System.exit(2);
                }
            }
            checks.keySet().retainAll(named);
        } else {
            checks.keySet().removeAll(ON_REQUEST);
        }
        List<String> failed = new ArrayList<>();
        for (Map.Entry<String, PolicyCheck> e : checks.entrySet()) {
            try {
                System.out.println("ok " + e.getKey() + ": " + e.getValue().run());
            } catch (Bad b) {
                failed.add(e.getKey());
                System.out.println("FAIL " + e.getKey() + ": " + b.getMessage());
            } catch (Exception x) {
                failed.add(e.getKey());
                java.io.StringWriter sw = new java.io.StringWriter();
                x.printStackTrace(new java.io.PrintWriter(sw));
                System.out.println("FAIL " + e.getKey() + ": unexpected exception\n" + sw);
            }
            System.out.flush();
        }
        if (failed.isEmpty()) {
            System.out.println("jdbc: all " + checks.size() + " checks hold");
        } else {
            System.out.println("jdbc: " + failed.size() + " of " + checks.size() + " checks FAILED: "
                    + String.join(", ", failed));
            System.exit(1);
        }
    }
}
