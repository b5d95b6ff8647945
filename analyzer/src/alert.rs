//! From findings to alerts: a deterministic alert id per (detector, entity, window), the
//! check against ClickHouse that keeps a re-run from raising an alert twice, and the events
//! an alert is written as — a `Body::Alert` (the `alerts` table) and its first lifecycle
//! step, a `Transition` to `new` (the `alert_transitions` table).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clickhouse::Client;
use uuid::Uuid;

use crate::detect::{DetectError, Finding, fetch, quote_list};
use crate::event::{Alert, AlertState, Body, Event, Resolution, Transition};

/// Actor of the transitions the analyzer makes itself.
pub const ACTOR: &str = "analyzer";

/// The id of the alert for `detector`, `entity` and the window starting at `window_start`:
/// a UUID (version 8) made of a 128-bit FNV-1a hash of the three, so that every run over
/// the same window names the same alert.
pub fn alert_id(detector: &str, entity: &str, window_start: DateTime<Utc>) -> Uuid {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut h = OFFSET;
    let start = window_start.timestamp().to_le_bytes();
    for part in [detector.as_bytes(), &[0], entity.as_bytes(), &[0], &start] {
        for b in part {
            h = (h ^ u128::from(*b)).wrapping_mul(PRIME);
        }
    }
    uuid::Builder::from_custom_bytes(h.to_be_bytes()).into_uuid()
}

impl Finding {
    /// The alert this finding raises.
    pub fn to_alert(&self) -> Alert {
        Alert {
            alert_id: alert_id(self.detector, &self.entity, self.window_start),
            detector: self.detector.to_owned(),
            entity: self.entity.clone(),
            severity: self.severity,
            title: self.title.clone(),
            window_start: self.window_start,
            window_end: self.window_end,
            evidence: self.evidence.clone(),
            drill_id: None,
        }
    }
}

/// The events that raise `alert`: the alert and its transition to `new`.
pub fn events(producer: &str, alert: &Alert) -> [Event; 2] {
    [
        Event::new(producer, Body::Alert(alert.clone())),
        Event::new(
            producer,
            Body::Transition(Transition {
                alert_id: alert.alert_id,
                state: AlertState::New,
                actor: ACTOR.into(),
                note: alert.title.clone(),
                resolution: Resolution::None,
            }),
        ),
    ]
}

/// Which of `ids` the `alerts` table already holds. Asked in chunks: a cycle over a busy
/// period can raise thousands, and ClickHouse refuses a query over `max_query_size`
/// (256 KiB by default).
pub async fn already_raised(
    db: &Client,
    timeout: Duration,
    ids: &[Uuid],
) -> Result<HashSet<Uuid>, DetectError> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(ID_CHUNK) {
        let strings: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
        let sql = format!(
            "SELECT DISTINCT toString(alert_id) FROM alerts WHERE toString(alert_id) IN {}",
            quote_list(strings.iter().map(String::as_str))
        );
        let found: Vec<String> = fetch(db, timeout, &sql).await?;
        out.extend(found.iter().filter_map(|s| Uuid::parse_str(s).ok()));
    }
    Ok(out)
}

/// Ids per `IN` list: 1,000 quoted UUIDs are about 40 KB of SQL.
pub const ID_CHUNK: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_are_stable_and_distinct() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let t2 = DateTime::from_timestamp(1_700_000_300, 0).unwrap_or_default();
        let a = alert_id("bulk-exfiltration", "analyst_li", t);
        assert_eq!(a, alert_id("bulk-exfiltration", "analyst_li", t));
        assert_eq!(a.get_version_num(), 8);
        for other in [
            alert_id("bulk-exfiltration", "analyst_l", t),
            alert_id("bulk-exfiltration", "analyst_li", t2),
            alert_id("off-hours", "analyst_li", t),
            // The separator keeps ("ab", "c") and ("a", "bc") apart.
            alert_id("bulk-exfiltrationa", "nalyst_li", t),
        ] {
            assert_ne!(a, other);
        }
        // Pinned: a change here changes every alert id in existing databases.
        assert_eq!(a.to_string(), "16d8bbb5-9548-8d39-80e2-b61943f2cf04");
    }

    #[test]
    fn an_alert_is_raised_with_a_new_transition() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let f = Finding {
            detector: "off-hours",
            entity: "analyst_li".into(),
            severity: crate::event::Severity::Medium,
            title: "t".into(),
            window_start: t,
            window_end: t,
            evidence: vec![],
        };
        let alert = f.to_alert();
        let [a, tr] = events("n/analyzer", &alert);
        assert!(matches!(a.body, Body::Alert(ref x) if x.alert_id == alert.alert_id));
        assert!(
            matches!(tr.body, Body::Transition(ref x) if x.alert_id == alert.alert_id && x.state == AlertState::New)
        );
    }
}
