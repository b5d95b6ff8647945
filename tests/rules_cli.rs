//! `tianmu rules check` and `tianmu rules explain` as an operator runs them.

mod common;

use common::{BIN, repo_root};
use std::process::Command;

fn demo(name: &str) -> std::path::PathBuf {
    repo_root().join("deploy/demo").join(name)
}

/// Runs `rules check` on the demo files with one of them replaced by `text`.
fn check_with(replace: &str, text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = Vec::new();
    for name in ["catalog.toml", "accounts.toml", "policy.toml"] {
        let path = dir.path().join(name);
        let body = if name == replace {
            text.to_owned()
        } else {
            std::fs::read_to_string(demo(name)).expect("demo file")
        };
        std::fs::write(&path, body).expect("write");
        args.push(path);
    }
    let out = Command::new(BIN)
        .args(["rules", "check"])
        .args(&args)
        .output()
        .expect("run");
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(&format!("{}/", dir.path().display()), "");
    (out.status.success(), stderr)
}

#[test]
fn the_demo_policy_checks_clean() {
    let out = Command::new(BIN)
        .args(["rules", "check", "-c"])
        .arg(demo("tianmu.toml"))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("catalog.toml: catalog, 6 tables"),
        "{stdout}"
    );
    assert!(stdout.contains("accounts.toml: accounts, 5"), "{stdout}");
}

#[test]
fn broken_files_get_a_precise_error_each() {
    let policy = std::fs::read_to_string(demo("policy.toml")).expect("policy");
    let catalog = std::fs::read_to_string(demo("catalog.toml")).expect("catalog");
    let line_of =
        |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).expect(needle) + 1;
    let first_rule = "name = \"no-unbounded-change\"";
    let cases: Vec<(&str, String, String)> = vec![
        (
            "policy.toml",
            policy.replacen("[[rule]]", "[[rule]", 1),
            format!("policy.toml:{}: ", line_of(&policy, "[[rule]]")),
        ),
        (
            "policy.toml",
            policy.replacen(
                "except-accounts = [\"dba_admin\"]",
                "except-accounts = [\"dba_admni\"]",
                1,
            ),
            format!(
                "policy.toml:{}: rule[8].except-accounts[0]: account `dba_admni` is not in the accounts file",
                line_of(&policy, "except-accounts = [\"dba_admin\"]")
            ),
        ),
        (
            "catalog.toml",
            catalog.replacen(
                "{ name = \"id_card\", level = 4,",
                "{ name = \"id_card\", level = 7,",
                1,
            ),
            format!(
                "catalog.toml:{}: table[0].columns[2].level: level 7 is out of range; expected 1 to 4",
                line_of(&catalog, "{ name = \"id_card\", level = 4,")
            ),
        ),
        (
            "policy.toml",
            policy.replacen("name = \"no-truncate\"", first_rule, 1),
            format!(
                "policy.toml:{}: rule[1].name: rule `no-unbounded-change` is defined twice",
                line_of(&policy, "name = \"no-truncate\"")
            ),
        ),
    ];
    for (file, text, want) in cases {
        let (ok, stderr) = check_with(file, &text);
        assert!(!ok, "{file} should be refused");
        assert!(stderr.starts_with(&want), "want {want:?}\ngot  {stderr:?}");
    }
}

#[test]
fn explain_json_is_one_object_for_scripts() {
    let out = Command::new(BIN)
        .args(["rules", "explain", "--policy"])
        .arg(demo("policy.toml"))
        .args([
            "--user",
            "vendor_dev",
            "--format",
            "json",
            "SELECT name FROM population",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["decision"], "block");
    assert_eq!(v["rule"], "account.read");
    assert_eq!(v["severity"], "high");
    assert_eq!(v["analysis"]["statements"][0]["kind"], "read");
}
