"""PyMySQL through the firewall and directly: results must be identical.

Usage: pymysql_check.py FIREWALL_PORT DIRECT_PORT
Runs allowed statements as dba_admin (buffered and server-side streaming cursors) on
both connections and compares; then checks the demo policy through the firewall: a
block (1142), masked values for app_portal, and the portal's 200-row limit with an
SSCursor. Prints one line per check; exits non-zero on the first difference.
"""
import sys

import pymysql
import pymysql.cursors

FW, DIRECT = int(sys.argv[1]), int(sys.argv[2])


def connect(port, user, cursorclass=pymysql.cursors.Cursor):
    return pymysql.connect(host="127.0.0.1", port=port, user=user, password=user,
                           database="publicdata", charset="utf8mb4",
                           cursorclass=cursorclass, connect_timeout=10)


ALLOWED = [
    "SELECT uscc, name, legal_rep_id_card, registered_capital FROM legal_person ORDER BY uscc LIMIT 50",
    "SELECT license_type, count(*) FROM license GROUP BY 1 ORDER BY 1",
    "SELECT id, name, birth_date, gender FROM population ORDER BY id LIMIT 300",
    "SELECT 1 AS a, NULL AS b, 'two' AS c, 3.5 AS d",
]


def rows(port, sql, cursorclass):
    with connect(port, "dba_admin", cursorclass) as c:
        with c.cursor() as cur:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()], [d[0] for d in cur.description]


for cls in (pymysql.cursors.Cursor, pymysql.cursors.SSCursor):
    for sql in ALLOWED:
        got, want = rows(FW, sql, cls), rows(DIRECT, sql, cls)
        if got != want:
            sys.exit(f"DIFFERENT {cls.__name__}: {sql}\n fw: {got[:3]}\n direct: {want[:3]}")
        print(f"identical {cls.__name__} rows={len(got[0])}: {sql}")

# Writes in a transaction through the firewall, rolled back.
with connect(FW, "dba_admin") as c:
    with c.cursor() as cur:
        c.begin()
        cur.execute("UPDATE open_dataset SET title = CONCAT(title, '') WHERE id = 1")
        c.rollback()
        print("transaction ok")

# Block.
with connect(FW, "app_portal") as c:
    with c.cursor() as cur:
        try:
            cur.execute("SELECT * FROM bank_account")
            sys.exit("NOT BLOCKED")
        except pymysql.err.MySQLError as e:
            code, msg = e.args[0], e.args[1]
            assert code == 1142 and "rule " in msg, e.args
            print(f"blocked {code}")
        # The session stays usable.
        cur.execute("SELECT count(*) FROM open_dataset")
        print(f"after block: {cur.fetchone()[0]}")
        # Mask.
        cur.execute("SELECT name, id_card FROM population WHERE id = 1")
        name, card = cur.fetchone()
        with connect(DIRECT, "dba_admin") as d:
            with d.cursor() as dc:
                dc.execute("SELECT name, id_card FROM population WHERE id = 1")
                real_name, real_card = dc.fetchone()
        assert name == real_name, (name, real_name)
        assert card == real_card[:6] + "********" + real_card[14:], (card, real_card)
        print(f"masked {card}")

# Limit through a streaming cursor: rows up to the limit, then the error.
with connect(FW, "app_portal", pymysql.cursors.SSCursor) as c:
    with c.cursor() as cur:
        cur.execute("SELECT id FROM population ORDER BY id")
        n = 0
        try:
            for _ in cur:
                n += 1
            sys.exit(f"NOT CUT after {n} rows")
        except pymysql.err.MySQLError as e:
            assert e.args[0] == 1317 and "limit of 200 rows" in e.args[1], e.args
            assert n == 200, n
            print(f"cut at {n}: {e.args[0]}")
    # The connection goes on after the cut (the statement was killed upstream).
    with c.cursor() as cur:
        cur.execute("SELECT count(*) FROM open_dataset")
        print(f"after cut: {cur.fetchone()[0]}")
print("ok")
