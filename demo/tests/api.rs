//! The sharing API against the real PostgreSQL, called with curl as a consuming application
//! would: answers equal the loaded data; keys, bad input and unknown entities are refused
//! with the right status.

mod common;

use common::TestDb;
use demo::api::{ApiConfig, CreditRecord, DEMO_APP_KEYS, LegalPerson, serve};
use demo::data::{Counts, generate};
use std::process::Command;

/// `curl` a path with an optional app key; returns (status, body).
fn call(base: &str, path: &str, key: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        &format!("{base}{path}"),
    ]);
    if let Some(k) = key {
        cmd.args(["-H", &format!("X-App-Key: {k}")]);
    }
    let out = cmd.output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("status line");
    (status.trim().parse().expect("a status"), body.to_owned())
}

#[test]
fn the_sharing_api_serves_the_demo_data() {
    let db = TestDb::new("api");
    let data = generate(7, &Counts::scaled(0.02));
    db.load(&data);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut cfg = ApiConfig::demo("127.0.0.1:0".parse().expect("addr"));
    cfg.database = format!(
        "host=127.0.0.1 port=5432 user=share_api password=share_api dbname={}",
        db.name()
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = rt.spawn(serve(cfg, cancel.clone(), Some(tx)));
    let addr = rt.block_on(rx).expect("the API binds");
    let base = format!("http://{addr}");
    let key = Some(DEMO_APP_KEYS[0]);

    let lp = &data.legal_person[3];
    let (status, body) = call(&base, &format!("/api/v1/legal-person/{}", lp.uscc), key);
    assert_eq!(status, 200, "{body}");
    let got: LegalPerson = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        (got.uscc.as_str(), got.name.as_str()),
        (lp.uscc.as_str(), lp.name.as_str())
    );
    assert_eq!(
        got.registered_capital,
        format!("{}.00", lp.registered_capital)
    );

    let with_records = &data.credit_record[0].uscc;
    let expected = data
        .credit_record
        .iter()
        .filter(|r| &r.uscc == with_records)
        .count();
    let (status, body) = call(&base, &format!("/api/v1/credit?uscc={with_records}"), key);
    assert_eq!(status, 200, "{body}");
    let records: Vec<CreditRecord> = serde_json::from_str(&body).expect("JSON array");
    assert_eq!(records.len(), expected);
    assert!(records.iter().all(|r| &r.uscc == with_records));

    let uscc_path = format!("/api/v1/legal-person/{}", lp.uscc);
    assert_eq!(call(&base, &uscc_path, None).0, 401, "no key");
    assert_eq!(
        call(&base, &uscc_path, Some("stolen-key")).0,
        401,
        "unknown key"
    );
    assert_eq!(
        call(&base, "/api/v1/legal-person/1%27%20OR%201=1", key).0,
        400,
        "not a USCC"
    );
    assert_eq!(call(&base, "/api/v1/credit", key).0, 400, "uscc missing");
    let unknown = "91330106MA2XXXXX0A";
    assert!(data.legal_person.iter().all(|l| l.uscc != unknown));
    assert_eq!(
        call(&base, &format!("/api/v1/legal-person/{unknown}"), key).0,
        404
    );

    cancel.cancel();
    rt.block_on(server)
        .expect("join")
        .expect("served until cancelled");
}
