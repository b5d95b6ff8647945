//! Desktop notifications (notify-rust) for new high and critical alerts, when a notification
//! service answers on the D-Bus session bus (`org.freedesktop.Notifications`); otherwise off,
//! with the reason in the status line. Every D-Bus call runs on the blocking pool under a
//! timeout: a missing or hung service never holds the UI, and a failure is only logged.
//!
//! ```text
//!  snapshot ─► App::update ─► new high/critical, non-drill alerts (not seen before) ─► notify
//! ```
//! The first snapshot only marks what is there as seen: opening the console does not replay
//! the queue.

use std::collections::HashSet;
use std::time::Duration;

use analyzer::event::Severity;
use analyzer::lifecycle::AlertRecord;
use uuid::Uuid;

/// How long a D-Bus call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Most notifications for one snapshot; the rest are summed up in one.
const BURST: usize = 3;

/// Whether notifications can be shown, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    Available(String),
    Unavailable(String),
}

/// Asks the session bus for a notification server.
pub async fn probe() -> Service {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none_or(|a| a.is_empty()) {
        return Service::Unavailable("no D-Bus session bus".into());
    }
    let call = tokio::task::spawn_blocking(notify_rust::get_server_information);
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(Ok(info))) => Service::Available(format!("{} {}", info.name, info.version)),
        Ok(Ok(Err(e))) => Service::Unavailable(format!("no notification service: {e}")),
        Ok(Err(_)) => Service::Unavailable("the D-Bus probe failed".into()),
        Err(_) => Service::Unavailable("the notification service does not answer".into()),
    }
}

/// The alerts of a snapshot worth a notification, remembering what was seen.
#[derive(Debug, Default)]
pub struct Watch {
    seen: HashSet<Uuid>,
    primed: bool,
}

impl Watch {
    /// New high or critical, non-drill, open alerts in `alerts` (none on the first call).
    pub fn fresh<'a>(&mut self, alerts: &'a [AlertRecord]) -> Vec<&'a AlertRecord> {
        let mut out = Vec::new();
        for r in alerts {
            if self.seen.insert(r.alert.alert_id)
                && self.primed
                && !r.drill
                && r.timeline.is_open()
                && r.alert.severity >= Severity::High
            {
                out.push(r);
            }
        }
        self.primed = true;
        out
    }
}

/// Shows `alerts` as desktop notifications in the background.
pub fn send(alerts: &[&AlertRecord]) {
    if alerts.is_empty() {
        return;
    }
    let mut texts: Vec<(String, String, bool)> = alerts
        .iter()
        .take(BURST)
        .map(|r| {
            let critical = r.alert.severity == Severity::Critical;
            (
                format!(
                    "Tianmu 天目: {} {}",
                    if critical { "CRITICAL" } else { "HIGH" },
                    r.alert.detector
                ),
                format!("{} — {}", r.alert.entity, r.alert.title),
                critical,
            )
        })
        .collect();
    if alerts.len() > BURST {
        texts.push((
            "Tianmu 天目".into(),
            format!("{} more new alerts", alerts.len() - BURST),
            false,
        ));
    }
    tokio::spawn(async move {
        let call = tokio::task::spawn_blocking(move || {
            for (summary, body, critical) in texts {
                let mut n = notify_rust::Notification::new();
                n.summary(&summary).body(&body).appname("tianmu");
                if critical {
                    n.urgency(notify_rust::Urgency::Critical);
                }
                n.show()?;
            }
            Ok::<(), notify_rust::error::Error>(())
        });
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "Desktop notification failed."),
            Ok(Err(_)) | Err(_) => tracing::warn!("Desktop notification did not finish in time."),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_serious_real_open_alerts_after_the_first_snapshot() {
        let now = crate::fixture::now();
        let mut alerts = crate::fixture::alerts(now, 0);
        let mut w = Watch::default();
        assert!(w.fresh(&alerts).is_empty(), "the first snapshot primes");
        assert!(w.fresh(&alerts).is_empty(), "nothing new");
        let mut new = alerts[0].clone();
        new.alert.alert_id = Uuid::from_u128(0xfeed);
        new.alert.severity = Severity::High;
        let mut drill = new.clone();
        drill.alert.alert_id = Uuid::from_u128(0xd811);
        drill.drill = true;
        let mut low = new.clone();
        low.alert.alert_id = Uuid::from_u128(0x10);
        low.alert.severity = Severity::Medium;
        alerts.extend([new, drill, low]);
        let fresh: Vec<Uuid> = w.fresh(&alerts).iter().map(|r| r.alert.alert_id).collect();
        assert_eq!(fresh, [Uuid::from_u128(0xfeed)]);
        assert!(w.fresh(&alerts).is_empty());
    }

    #[tokio::test]
    async fn without_a_session_bus_notifications_are_off() {
        // The test's environment decides; either way the probe answers within its bound.
        let got = tokio::time::timeout(CALL_TIMEOUT * 2, probe()).await;
        assert!(got.is_ok(), "the probe returns");
    }
}
