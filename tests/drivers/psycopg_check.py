"""psycopg 3 through the Tianmu firewall, compared with a direct connection.

Run by tests/firewall_drivers.rs:

    python3 tests/drivers/psycopg_check.py [--only CHECK,...] [--direct PORT] PROXY_PORT

Every `same_*` check runs once straight on the server (127.0.0.1:PORT of --direct, default
5432) and once through the firewall (127.0.0.1:PROXY_PORT), as the same account, and
compares the results. Every `policy_*` check runs through the firewall only and checks
what the demo policy does (deploy/demo/policy.toml). Prints `ok NAME: ...` per check,
`FAIL NAME: ...` with both sides on a mismatch, and exits 1 when any check failed.
Without --only, every check runs but those of ON_REQUEST. The demo tables are only read;
writes go to TEMP tables.
"""

import argparse
import sys
import traceback

import psycopg
from psycopg import errors

HOST = "127.0.0.1"
ARGS = argparse.ArgumentParser()
ARGS.add_argument("--only", help="comma-separated check names")
ARGS.add_argument("--direct", type=int, default=5432)
ARGS.add_argument("proxy", type=int)
ARGS = ARGS.parse_args()
PROXY = ARGS.proxy
DIRECT = ARGS.direct


def connect(port, user="dba_admin", **kw):
    return psycopg.connect(
        host=HOST,
        port=port,
        user=user,
        password=user,
        dbname="publicdata",
        connect_timeout=10,
        **kw,
    )


# --- results that must be identical ---------------------------------------------------


def same_simple(conn):
    cur = conn.cursor()
    out = []
    cur.execute(
        "SELECT uscc, name, legal_rep_id_card, registered_capital FROM legal_person "
        "ORDER BY uscc LIMIT 50"
    )
    out.append([d.name for d in cur.description])
    out.append(cur.fetchall())
    # No parameters: several statements in one execute, one result set each.
    cur.execute("SELECT 1 AS a; SELECT 'two' AS b, NULL AS c")
    sets = [cur.fetchall()]
    while cur.nextset():
        sets.append(cur.fetchall())
    out.append(sets)
    cur.execute("SELECT license_type, count(*) FROM license GROUP BY 1 ORDER BY 1")
    out.append(cur.fetchall())
    cur.execute("SHOW server_version")
    out.append(cur.fetchall())
    return out


def same_parameters(conn):
    cur = conn.cursor()
    out = []
    for uscc_prefix, limit in [("9", 5), ("1", 3), ("", 7)]:
        cur.execute(
            "SELECT uscc, name, registered_capital FROM legal_person "
            "WHERE uscc LIKE %s ORDER BY uscc LIMIT %s",
            (uscc_prefix + "%", limit),
        )
        out.append(cur.fetchall())
    cur.execute(
        "SELECT id, name, id_card, birth_date FROM population WHERE id = ANY(%s) ORDER BY id",
        ([1, 2, 3, 500],),
    )
    out.append(cur.fetchall())
    cur.execute(
        "SELECT %(a)s::int + %(b)s::int AS s, %(t)s::text AS t, %(n)s::text AS n",
        {"a": 40, "b": 2, "t": "天目", "n": None},
    )
    out.append(cur.fetchall())
    return out


def same_binary(conn):
    out = []
    cur = conn.cursor(binary=True)
    cur.execute(
        "SELECT id, name, id_card, birth_date, gender FROM population ORDER BY id LIMIT 40"
    )
    out.append(cur.fetchall())
    cur.execute(
        "SELECT uscc, registered_capital FROM legal_person WHERE registered_capital > %s "
        "ORDER BY uscc LIMIT 20",
        (1000,),
    )
    out.append(cur.fetchall())
    # One statement, binary only for this execute.
    cur2 = conn.cursor()
    cur2.execute(
        "SELECT 1::int2, 2::int8, 1.5::float8, 12.34::numeric, 'x'::text, NULL::int, "
        "'\\x00ff'::bytea, ARRAY[1,2,3], '2024-02-29'::date, true, '{\"k\": [1]}'::jsonb",
        binary=True,
    )
    out.append(cur2.fetchall())
    out.append([(d.name, d.type_code) for d in cur2.description])
    return out


def same_server_cursor(conn):
    out = []
    with conn.cursor(name="tianmu_named") as cur:
        cur.itersize = 37
        cur.execute(
            "SELECT uscc, name, legal_rep_name FROM legal_person WHERE uscc > %s ORDER BY uscc",
            ("0",),
        )
        out.append(cur.fetchone())
        out.append(cur.fetchmany(25))
        out.append(cur.fetchmany(25))
        rest = []
        for row in cur:  # FETCH FORWARD 37 again and again
            rest.append(row)
            if len(rest) == 500:
                break
        out.append(rest)
    # A binary, scrollable one with hold.
    conn.commit()
    with conn.cursor(name="tianmu_scroll", binary=True, scrollable=True, withhold=True) as cur:
        cur.execute("SELECT id, title, publish_date FROM open_dataset ORDER BY id")
        out.append(cur.fetchmany(10))
        cur.scroll(500, mode="absolute")
        out.append(cur.fetchmany(5))
        cur.scroll(-3)
        out.append(cur.fetchone())
    conn.commit()
    return out


def same_copy_out(conn):
    out = []
    cur = conn.cursor()
    for sql in [
        "COPY (SELECT id, holder_id_card, license_type FROM license ORDER BY id LIMIT 300) TO STDOUT",
        "COPY (SELECT id, title, publish_date FROM open_dataset ORDER BY id) TO STDOUT (FORMAT CSV, HEADER)",
        "COPY (SELECT uscc, registered_capital FROM legal_person ORDER BY uscc LIMIT 200) TO STDOUT (FORMAT BINARY)",
    ]:
        with cur.copy(sql) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        out.append(data)
    with cur.copy("COPY (SELECT id, birth_date FROM population ORDER BY id LIMIT 50) TO STDOUT") as copy:
        copy.set_types(["int8", "date"])
        out.append(list(copy.rows()))
    return out


def same_copy_in(conn):
    out = []
    cur = conn.cursor()
    cur.execute("CREATE TEMP TABLE drv_copy(a int, b text, c date)")
    with cur.copy("COPY drv_copy (a, b, c) FROM STDIN") as copy:
        for i in range(1000):
            copy.write_row((i, f"row {i}\ttab", None if i % 7 else "2024-01-01"))
    with cur.copy("COPY drv_copy (a, b) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "text"])
        for i in range(1000, 1200):
            copy.write_row((i, "bin"))
    with cur.copy("COPY drv_copy (a, b) FROM STDIN (FORMAT CSV)") as copy:
        copy.write(b"5000,\"quoted, comma\"\n5001,plain\n")
    out.append(cur.rowcount)
    cur.execute("SELECT count(*), sum(a), count(c), string_agg(b, '|' ORDER BY a) FILTER (WHERE a % 250 = 0 OR a > 4999) FROM drv_copy")
    out.append(cur.fetchall())
    # The same data back out.
    with cur.copy("COPY drv_copy TO STDOUT") as copy:
        out.append(b"".join(bytes(chunk) for chunk in copy))
    conn.rollback()
    return out


def same_prepared(conn):
    out = []
    sql = "SELECT id, title, category FROM open_dataset WHERE id BETWEEN %s AND %s ORDER BY id"
    for i in range(8):
        cur = conn.execute(sql, (i * 10, i * 10 + 4), prepare=True)
        out.append(cur.fetchall())
    # Automatic preparation after prepare_threshold executions (5 by default).
    sql2 = "SELECT uscc, name FROM legal_person WHERE uscc > %s ORDER BY uscc LIMIT 3"
    for i in range(8):
        cur = conn.execute(sql2, (str(i),))
        out.append(cur.fetchall())
    # Binary and prepared together.
    for i in range(3):
        cur = conn.cursor(binary=True)
        cur.execute("SELECT id, birth_date FROM population WHERE id = %s", (i + 1,), prepare=True)
        out.append(cur.fetchall())
    # The prepared statements exist on the server under psycopg's names.
    cur = conn.execute(
        "SELECT name, statement, parameter_types::text FROM pg_prepared_statements ORDER BY name",
        prepare=False,
    )
    out.append(cur.fetchall())
    conn.rollback()
    # executemany: prepared and, with libpq >= 14, pipelined.
    conn.execute("CREATE TEMP TABLE drv_many(a int, b text)")
    cur = conn.cursor()
    cur.executemany("INSERT INTO drv_many VALUES (%s, %s)", [(i, str(i * i)) for i in range(300)])
    cur.executemany(
        "INSERT INTO drv_many VALUES (%s, %s) RETURNING a * 2",
        [(i, "r") for i in range(1000, 1005)],
        returning=True,
    )
    ret = []
    while True:
        ret.append(cur.fetchone())
        if not cur.nextset():
            break
    out.append(ret)
    out.append(conn.execute("SELECT count(*), sum(a), max(b) FROM drv_many").fetchall())
    conn.rollback()
    return out


def same_transactions(conn):
    out = []
    conn.execute("CREATE TEMP TABLE drv_tx(a int)")
    conn.commit()
    conn.execute("INSERT INTO drv_tx VALUES (1), (2)")
    conn.rollback()
    out.append(conn.execute("SELECT count(*) FROM drv_tx").fetchone())
    with conn.transaction():
        conn.execute("INSERT INTO drv_tx VALUES (10)")
        with conn.transaction():  # SAVEPOINT / RELEASE
            conn.execute("INSERT INTO drv_tx VALUES (20)")
        with conn.transaction():  # SAVEPOINT / ROLLBACK TO SAVEPOINT
            conn.execute("INSERT INTO drv_tx VALUES (30)")
            raise psycopg.Rollback()
    out.append(conn.execute("SELECT array_agg(a ORDER BY a) FROM drv_tx").fetchone())
    # A server error inside a transaction, the aborted state, then rollback.
    try:
        conn.execute("SELECT 1 / 0")
    except errors.DivisionByZero as e:
        out.append(("error", e.sqlstate, e.diag.message_primary))
    try:
        conn.execute("SELECT 1")
    except errors.InFailedSqlTransaction as e:
        out.append(("aborted", e.sqlstate))
    out.append(str(conn.info.transaction_status))
    conn.rollback()
    out.append(conn.execute("SELECT count(*) FROM drv_tx").fetchone())
    out.append(str(conn.info.transaction_status))
    conn.rollback()
    return out


def same_pipeline(conn):
    out = []
    conn.autocommit = True
    with conn.pipeline() as p:
        c1 = conn.execute("SELECT count(*) FROM open_dataset")
        c2 = conn.execute("SELECT id, title FROM open_dataset WHERE id < %s ORDER BY id", (6,))
        c3 = conn.cursor(binary=True)
        c3.execute("SELECT uscc, registered_capital FROM legal_person ORDER BY uscc LIMIT %s", (4,))
        p.sync()
        c4 = conn.execute("SELECT %s::text || %s::text", ("a", "b"), prepare=True)
        c5 = conn.execute("SELECT %s::text || %s::text", ("c", "d"), prepare=True)
    for c in (c1, c2, c3, c4, c5):
        out.append(c.fetchall())
    # An error in a pipeline: the rest until the Sync is skipped, then it goes on.
    caught = []
    try:
        with conn.pipeline() as p:
            conn.execute("SELECT 1")
            conn.execute("SELECT 1 / 0")
            conn.execute("SELECT 2")
            p.sync()
    except errors.DivisionByZero as e:
        caught.append(e.sqlstate)
    out.append(caught)
    out.append(conn.execute("SELECT 3").fetchall())
    return out


def same_errors(conn):
    out = []
    for sql in ["SELECT * FROM no_such_table", "SELEC 1", "SELECT 'x'::int"]:
        try:
            conn.execute(sql)
            out.append(("no error", sql))
        except psycopg.Error as e:
            out.append((type(e).__name__, e.sqlstate, e.diag.message_primary))
        conn.rollback()
    out.append(conn.execute("SELECT 'still usable'").fetchall())
    return out


SAME = [
    same_simple,
    same_parameters,
    same_binary,
    same_server_cursor,
    same_copy_out,
    same_copy_in,
    same_prepared,
    same_transactions,
    same_pipeline,
    same_errors,
]


# --- what the policy does -------------------------------------------------------------


class Bad(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Bad(what)


def masked_card(real):
    return real[:6] + "*" * 8 + real[14:]


def masked_name(real):
    return real[:1] + "*" * (len(real) - 1)


def direct_rows(sql, params=None):
    with connect(DIRECT, "postgres") as d:
        return d.execute(sql, params).fetchall()


def policy_blocked(_):
    seen = []
    with connect(PROXY, "app_portal") as conn:
        for binary in (False, True):
            try:
                conn.execute("SELECT * FROM bank_account", binary=binary)
                raise Bad("SELECT * FROM bank_account was not blocked for app_portal")
            except errors.InsufficientPrivilege as e:
                expect(e.sqlstate == "42501", f"sqlstate {e.sqlstate}")
                expect(
                    "blocked by the data firewall (rule " in str(e),
                    f"message: {e}",
                )
                seen.append(e.sqlstate)
            expect(
                conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR,
                f"after a block the transaction is aborted, not {conn.info.transaction_status}",
            )
            conn.rollback()
            got = conn.execute("SELECT count(*) FROM open_dataset").fetchone()
            expect(got == (1000,), f"usable after rollback: {got}")
            conn.rollback()
        # Blocked with parameters (extended protocol) and prepared.
        try:
            conn.execute(
                "SELECT name FROM population WHERE id = %s OR 1=1", (1,), prepare=True
            )
            raise Bad("tautology with a parameter was not blocked")
        except errors.InsufficientPrivilege as e:
            seen.append(e.sqlstate)
        conn.rollback()
    with connect(PROXY, "vendor_dev", autocommit=True) as conn:
        try:
            conn.execute("SELECT name FROM population LIMIT 1")
            raise Bad("vendor_dev read population")
        except errors.InsufficientPrivilege as e:
            seen.append(e.sqlstate)
        got = conn.execute("SELECT count(*) FROM open_dataset").fetchone()
        expect(got == (1000,), f"vendor usable in autocommit: {got}")
    return f"{len(seen)} blocks with 42501, connections usable afterwards"


def policy_blocked_in_pipeline(_):
    with connect(PROXY, "app_portal", autocommit=True) as conn:
        results = []
        try:
            with conn.pipeline() as p:
                c1 = conn.execute("SELECT 1")
                conn.execute("SELECT * FROM bank_account WHERE id = %s", (1,))
                conn.execute("SELECT 2")
                p.sync()
        except errors.InsufficientPrivilege as e:
            results.append(e.sqlstate)
        expect(results == ["42501"], f"pipeline block: {results}")
        expect(c1.fetchall() == [(1,)], "the statement before the block ran")
        got = conn.execute("SELECT 3").fetchall()
        expect(got == [(3,)], f"usable after the pipeline: {got}")
    return "blocked statement aborts its pipeline sync group only"


def policy_masked(_):
    real = direct_rows("SELECT id, name, id_card FROM population WHERE id IN (1, 2, 3) ORDER BY id")
    checked = 0
    with connect(PROXY, "app_portal") as conn:
        ways = [
            ("simple", lambda: conn.execute("SELECT id, name, id_card FROM population WHERE id IN (1, 2, 3) ORDER BY id")),
            ("params", lambda: conn.execute("SELECT id, name, id_card FROM population WHERE id = ANY(%s) ORDER BY id", ([1, 2, 3],))),
            ("binary", lambda: conn.execute("SELECT id, name, id_card FROM population WHERE id = ANY(%s) ORDER BY id", ([1, 2, 3],), binary=True)),
            ("prepared", lambda: conn.execute("SELECT id, name, id_card FROM population WHERE id = ANY(%s) ORDER BY id", ([1, 2, 3],), prepare=True)),
            ("prepared again", lambda: conn.execute("SELECT id, name, id_card FROM population WHERE id = ANY(%s) ORDER BY id", ([1, 2, 3],), prepare=True)),
        ]
        for how, run in ways:
            got = run().fetchall()
            want = [(i, n, masked_card(c)) for i, n, c in real]
            expect(got == want, f"app_portal {how}: got {got}, want {want}")
            checked += 1
        conn.rollback()
        # COPY out of a column the account only sees masked is refused, not masked.
        try:
            with conn.cursor().copy(
                "COPY (SELECT id, id_card FROM population WHERE id IN (1, 2, 3) ORDER BY id) TO STDOUT"
            ) as copy:
                data = b"".join(bytes(c) for c in copy)
            raise Bad(f"app_portal exported id_card with COPY: {data!r}")
        except errors.InsufficientPrivilege as e:
            expect("exporting publicdata.public.population.id_card" in str(e), f"COPY refusal: {e}")
        conn.rollback()
        got = conn.execute("SELECT id, name FROM population WHERE id = 1").fetchall()
        expect(got == [(1, real[0][1])], f"usable after the COPY refusal: {got}")
        checked += 1
        conn.rollback()
    # The analyst (clearance 2): names masked too, in a server-side cursor's FETCHes.
    real = direct_rows("SELECT id, name FROM population WHERE id <= 120 ORDER BY id")
    with connect(PROXY, "analyst_li") as conn:
        with conn.cursor(name="analyst_cursor") as cur:
            cur.itersize = 25
            cur.execute("SELECT id, name FROM population WHERE id <= %s ORDER BY id", (120,))
            got = cur.fetchmany(10) + list(cur)
        want = [(i, masked_name(n)) for i, n in real]
        expect(got == want, f"analyst_li server cursor: got {got[:5]}..., want {want[:5]}...")
        checked += 1
        conn.rollback()
    return f"{checked} ways masked as the policy says"


def policy_row_limit(_):
    # app_portal may read 200 rows per statement. The connection is closed right after
    # the cut (autocommit: no COMMIT on the way out): see policy_usable_after_limit.
    with connect(PROXY, "app_portal", autocommit=True) as conn:
        got = conn.execute("SELECT id FROM population ORDER BY id LIMIT 200").fetchall()
        expect(len(got) == 200, f"200 rows: {len(got)}")
        try:
            rows = conn.execute("SELECT id FROM population ORDER BY id LIMIT 201").fetchall()
            raise Bad(f"{len(rows)} rows passed the 200-row limit")
        except errors.ProgramLimitExceeded as e:
            expect("limit of 200 rows" in str(e), f"limit error: {e.sqlstate} {e}")
    return "201st row refused with the limit error (54000)"


def policy_usable_after_limit(_):
    # After a cut the client has its error and ReadyForQuery; what it sends next must run.
    # The firewall cancels the cut statement upstream, and that cancel must not land on a
    # later statement (57014 "canceling statement due to user request").
    spurious = []
    rounds = 40
    with connect(PROXY, "app_portal", autocommit=True) as conn:
        for i in range(rounds):
            try:
                conn.execute("SELECT id FROM population ORDER BY id LIMIT 300").fetchall()
                raise Bad("300 rows passed the 200-row limit")
            except errors.ProgramLimitExceeded:
                pass
            except psycopg.Error as e:
                spurious.append(f"round {i}, the limited statement itself: {e.sqlstate} {e}")
            for k in range(3):
                try:
                    conn.execute("SELECT 1").fetchall()
                except psycopg.Error as e:
                    spurious.append(f"round {i}, statement {k + 1} after the cut: {e.sqlstate} {e}")
    expect(not spurious, f"{len(spurious)} statements failed after {rounds} cuts: " + "; ".join(spurious))
    return f"{rounds} cuts, every statement after them ran"


POLICY = [
    policy_blocked,
    policy_blocked_in_pipeline,
    policy_masked,
    policy_row_limit,
    policy_usable_after_limit,
]
# Run only when named with --only (a known firewall bug; tests/firewall_drivers.rs).
ON_REQUEST = {"policy_usable_after_limit"}


def run_same(check):
    results = {}
    for side, port in (("direct", DIRECT), ("proxy", PROXY)):
        with connect(port) as conn:
            results[side] = check(conn)
    if results["direct"] != results["proxy"]:
        d, p = repr(results["direct"]), repr(results["proxy"])
        at = next((i for i, (a, b) in enumerate(zip(d, p)) if a != b), min(len(d), len(p)))
        lo = max(0, at - 200)
        raise Bad(
            f"results differ at char {at}:\n  direct: ...{d[lo:at + 300]}\n  proxy:  ...{p[lo:at + 300]}"
        )
    return f"identical ({len(repr(results['proxy']))} chars of results)"


def main():
    print(f"psycopg {psycopg.__version__}, libpq {psycopg.pq.version()}, impl {psycopg.pq.__impl__}")
    failed = []
    checks = [(c.__name__, lambda c=c: run_same(c)) for c in SAME]
    checks += [(c.__name__, lambda c=c: c(None)) for c in POLICY]
    if ARGS.only:
        only = ARGS.only.split(",")
        unknown = set(only) - {name for name, _ in checks}
        if unknown:
            sys.exit(f"no such check: {', '.join(sorted(unknown))}")
        checks = [(name, run) for name, run in checks if name in only]
    else:
        checks = [(name, run) for name, run in checks if name not in ON_REQUEST]
    for name, run in checks:
        try:
            print(f"ok {name}: {run()}", flush=True)
        except Bad as e:
            failed.append(name)
            print(f"FAIL {name}: {e}", flush=True)
        except Exception:
            failed.append(name)
            print(f"FAIL {name}: unexpected exception\n{traceback.format_exc()}", flush=True)
    if failed:
        print(f"psycopg: {len(failed)} of {len(checks)} checks FAILED: {', '.join(failed)}")
    else:
        print(f"psycopg: all {len(checks)} checks hold")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
