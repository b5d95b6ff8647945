// The MariaDB JDBC driver (Debian libmariadb-java) through the MySQL firewall and directly,
// with server-side prepared statements (useServerPrepStmts: the binary protocol).
// Usage: java -cp mariadb-java-client.jar:. MariaJdbcCheck FIREWALL_PORT DIRECT_PORT
// Prints `ok NAME` per check; exits 1 with `FAIL NAME: ...` on the first mismatch.
import java.sql.*;
import java.util.*;

public class MariaJdbcCheck {
    static int fw, direct;

    static Connection connect(int port, String user) throws SQLException {
        String url = "jdbc:mariadb://127.0.0.1:" + port + "/publicdata?useServerPrepStmts=true&connectTimeout=10000";
        return DriverManager.getConnection(url, user, user);
    }

    static void fail(String name, String why) {
        System.out.println("FAIL " + name + ": " + why);
        System.exit(1);
    }

    static List<List<String>> rows(Connection c, String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) ps.setObject(i + 1, params[i]);
            try (ResultSet rs = ps.executeQuery()) {
                int n = rs.getMetaData().getColumnCount();
                List<List<String>> out = new ArrayList<>();
                while (rs.next()) {
                    List<String> row = new ArrayList<>();
                    for (int i = 1; i <= n; i++) row.add(rs.getString(i));
                    out.add(row);
                }
                return out;
            }
        }
    }

    public static void main(String[] args) throws Exception {
        fw = Integer.parseInt(args[0]);
        direct = Integer.parseInt(args[1]);
        String[][] allowed = {
            {"identical-legal-person", "SELECT uscc, name, registered_capital, legal_rep_id_card FROM legal_person WHERE uscc > ? ORDER BY uscc LIMIT 40", "9"},
            {"identical-population", "SELECT id, name, birth_date, gender, district_code FROM population WHERE id <= ? ORDER BY id", "150"},
            {"identical-aggregate", "SELECT license_type, count(*), min(issue_date) FROM license WHERE id > ? GROUP BY 1 ORDER BY 1", "0"},
        };
        try (Connection f = connect(fw, "dba_admin"); Connection d = connect(direct, "dba_admin")) {
            for (String[] a : allowed) {
                List<List<String>> got = rows(f, a[1], a[2]), want = rows(d, a[1], a[2]);
                if (!got.equals(want)) fail(a[0], got.size() + " rows vs " + want.size() + ": " + (got.isEmpty() ? "" : got.get(0)) + " / " + (want.isEmpty() ? "" : want.get(0)));
                if (got.isEmpty()) fail(a[0], "no rows");
                System.out.println("ok " + a[0]);
            }
            // The same statement executed again (its verdict kept per statement id).
            try (PreparedStatement ps = f.prepareStatement("SELECT title FROM open_dataset WHERE id = ?")) {
                for (int i = 1; i <= 5; i++) {
                    ps.setInt(1, i);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) fail("re-execute", "no row for " + i);
                    }
                }
            }
            System.out.println("ok re-execute");
        }
        String realCard, realName, realPhone;
        try (Connection d = connect(direct, "dba_admin")) {
            List<String> r = rows(d, "SELECT name, id_card, phone FROM population WHERE id = ?", 1).get(0);
            realName = r.get(0); realCard = r.get(1); realPhone = r.get(2);
        }
        try (Connection f = connect(fw, "app_portal")) {
            List<String> r = rows(f, "SELECT name, id_card, phone FROM population WHERE id = ?", 1).get(0);
            String want = realCard.substring(0, 6) + "********" + realCard.substring(14);
            if (!r.get(1).equals(want)) fail("binary-mask", r.get(1) + " vs " + want);
            if (!r.get(0).equals(realName)) fail("binary-mask", "name " + r.get(0));
            System.out.println("ok binary-mask");
            try {
                rows(f, "SELECT card_no FROM bank_account WHERE id = ?", 1);
                fail("prepare-blocked", "not blocked");
            } catch (SQLException e) {
                if (e.getErrorCode() != 1142 || !e.getMessage().contains("rule ")) fail("prepare-blocked", e.getErrorCode() + " " + e.getMessage());
            }
            System.out.println("ok prepare-blocked");
            try {
                List<List<String>> all = rows(f, "SELECT id FROM population WHERE id > ?", 0);
                fail("binary-limit", "not cut: " + all.size());
            } catch (SQLException e) {
                if (e.getErrorCode() != 1317 || !e.getMessage().contains("limit of 200 rows")) fail("binary-limit", e.getErrorCode() + " " + e.getMessage());
            }
            System.out.println("ok binary-limit");
            List<List<String>> after = rows(f, "SELECT count(*) FROM open_dataset WHERE id > ?", 0);
            if (!after.get(0).get(0).equals("1000")) fail("after-limit", after.toString());
            System.out.println("ok after-limit");
        }
        System.out.println("ok all");
    }
}
