//! **bypass** (绕过防火墙): statements a sensor saw on the wire to a server the firewalls
//! protect, which no firewall saw: a client connected to the database directly, around the
//! data firewall, so no rule, mask or limit applied and the audit trail has a hole. A
//! protected server is one of `servers`, or — when that is empty — any server a firewall
//! forwarded statements to within `history` (its `server` as the firewall records its
//! upstream; name upstreams by address for the two to meet).
//!
//! A sensor statement passed a firewall when a firewall let through a statement of the same
//! account, shape (fingerprint) and client address (its IP: the port differs between the
//! client's leg and the firewall's upstream leg) within about `around` of it; a sensor
//! statement without an account (a connection picked up midstream) is matched on shape and
//! address alone. Statements from `firewall-addresses` are the firewalls' own upstream
//! connections, which a sensor beside the server also sees, and are not judged.
//!
//! ClickHouse does the matching with `NOT IN` over tuples of (account, address,
//! fingerprint, time bucket of `around`), the firewall side spread over the neighbouring
//! buckets — no join, which ClickHouse 18.16 would make costly. One alert per client
//! address and window. Severity: high; critical when level-4 data was touched.

use futures_util::future::BoxFuture;

use super::{Context, DetectError, Detector, Finding, by_level, ids, quote_list};
use crate::event::Severity;

pub struct Bypass;

/// SQL for the client's address without its port.
const ADDRESS: &str = "replaceRegexpOne(client, ':[0-9]+$', '')";

#[derive(clickhouse::Row, serde::Deserialize)]
struct Direct {
    address: String,
    window: u32,
    accounts: Vec<String>,
    servers: Vec<String>,
    statements: u64,
    level: u8,
    evidence: Vec<String>,
}

impl Detector for Bypass {
    fn name(&self) -> &'static str {
        "bypass"
    }

    fn run<'a>(&'a self, cx: &'a Context<'a>) -> BoxFuture<'a, Result<Vec<Finding>, DetectError>> {
        Box::pin(run(self.name(), cx))
    }
}

/// The SQL of the detection over the context's windows.
fn query(cx: &Context<'_>) -> Option<String> {
    let c = &cx.cfg.bypass;
    let (first, last) = (*cx.windows.first()?, *cx.windows.last()?);
    let s = c.around.as_secs().max(1);
    let bucket = format!("toUInt32(intDiv(toUInt32(time), {s}))");
    // Firewall statements near the windows, each standing for its own bucket and both
    // neighbours: a sensor statement's bucket then meets every firewall statement within
    // `around` of it.
    let (from, to) = (
        i64::from(first) - 2 * s as i64,
        i64::from(last) + i64::from(cx.window()) + 2 * s as i64,
    );
    // Only the shapes a sensor saw from an address in the windows: the sets ClickHouse
    // builds for NOT IN stay as small as the sensor's traffic, not the firewalls'.
    let seen = format!(
        "({ADDRESS}, fingerprint) IN (SELECT {ADDRESS}, fingerprint FROM statements \
         WHERE {f} AND observer = 'sensor')",
        f = cx.window_filter(),
    );
    let passed = |cols: &str| {
        format!(
            "SELECT {cols}, toUInt32({bucket} + arrayJoin([-1, 0, 1])) FROM statements \
             WHERE observer = 'firewall' AND action != 'block' \
             AND time >= toDateTime({from}) AND time < toDateTime({to}) AND {seen}",
            from = from.max(0),
        )
    };
    let servers = if c.servers.is_empty() {
        let since = (i64::from(first) - c.history.as_secs() as i64).max(0);
        let until = to.max(cx.now.timestamp());
        format!(
            "server IN (SELECT DISTINCT server FROM statements WHERE observer = 'firewall' \
             AND time >= toDateTime({since}) AND time < toDateTime({until}))"
        )
    } else {
        format!(
            "server IN {}",
            quote_list(c.servers.iter().map(String::as_str))
        )
    };
    Some(format!(
        "SELECT {ADDRESS} AS address, {w} AS win, groupUniqArray(account) AS accounts, \
         groupUniqArray(server) AS servers, toUInt64(count()) AS statements, \
         toUInt8(max(max_level)) AS level, groupArray({n})(toString(id)) AS evidence \
         FROM statements \
         WHERE {f} AND observer = 'sensor' AND {servers} AND {ADDRESS} NOT IN {firewalls} \
         AND ((account != '' AND (account, {ADDRESS}, fingerprint, {bucket}) NOT IN ({with_account})) \
           OR (account = '' AND ({ADDRESS}, fingerprint, {bucket}) NOT IN ({without}))) \
         GROUP BY address, win ORDER BY address, win",
        w = cx.window_expr(),
        f = cx.window_filter(),
        n = cx.cfg.max_evidence,
        firewalls = quote_list(c.firewall_addresses.iter().map(String::as_str)),
        with_account = passed(&format!("account, {ADDRESS}, fingerprint")),
        without = passed(&format!("{ADDRESS}, fingerprint")),
    ))
}

async fn run(name: &'static str, cx: &Context<'_>) -> Result<Vec<Finding>, DetectError> {
    let Some(sql) = query(cx) else {
        return Ok(Vec::new());
    };
    let direct: Vec<Direct> = cx.fetch(&sql).await?;
    Ok(direct
        .into_iter()
        .map(|d| {
            let mut accounts: Vec<&str> = d
                .accounts
                .iter()
                .map(|a| if a.is_empty() { "(unknown)" } else { a })
                .collect();
            accounts.sort_unstable();
            let mut servers: Vec<&str> = d.servers.iter().map(String::as_str).collect();
            servers.sort_unstable();
            let (window_start, window_end) = cx.bounds(d.window);
            Finding {
                detector: name,
                severity: by_level(d.level, Severity::High, Severity::Critical),
                title: format!(
                    "{} statements from {} as {} reached {} without passing a firewall",
                    d.statements,
                    d.address,
                    accounts.join(", "),
                    servers.join(", ")
                ),
                window_start,
                window_end,
                evidence: ids(&d.evidence, cx.cfg.max_evidence),
                entity: d.address,
            }
        })
        .collect())
}
