//! **silent-producer** (探针/防火墙失联): a producer (`<node>/<component>`) that sent health
//! reports within `history` has sent none for `after`. The window starts at its last
//! report, so one silence is one alert however many cycles see it; when the producer
//! comes back and falls silent again, that is a new alert.
//!
//! Only producers that send `Health` events can be judged: today the pipeline of
//! `tianmu demo` does (every 10 s); the firewall and sensor daemons do not yet.
//! Severity: high.

use futures_util::future::BoxFuture;

use super::{Context, DetectError, Detector, Finding, at, ids};
use crate::event::Severity;

pub struct SilentProducer;

#[derive(clickhouse::Row, serde::Deserialize)]
struct Last {
    producer: String,
    component: String,
    last: u32,
    id: String,
}

impl Detector for SilentProducer {
    fn name(&self) -> &'static str {
        "silent-producer"
    }

    fn run<'a>(&'a self, cx: &'a Context<'a>) -> BoxFuture<'a, Result<Vec<Finding>, DetectError>> {
        Box::pin(run(self.name(), cx))
    }
}

async fn run(name: &'static str, cx: &Context<'_>) -> Result<Vec<Finding>, DetectError> {
    let c = &cx.cfg.silence;
    let now = cx.now.timestamp();
    let sql = format!(
        "SELECT producer, any(component), toUInt32(max(time)) AS last, argMax(toString(id), time) \
         FROM health WHERE time >= toDateTime({from}) GROUP BY producer \
         HAVING last < {quiet} ORDER BY producer",
        from = (now - c.history.as_secs() as i64).max(0),
        quiet = now - c.after.as_secs() as i64,
    );
    let silent: Vec<Last> = cx.fetch(&sql).await?;
    Ok(silent
        .into_iter()
        .map(|s| Finding {
            detector: name,
            severity: Severity::High,
            title: format!(
                "{} ({}) has sent no health report for {} s",
                s.producer,
                s.component,
                now - i64::from(s.last)
            ),
            window_start: at(i64::from(s.last)),
            window_end: cx.now,
            evidence: ids(std::slice::from_ref(&s.id), 1),
            entity: s.producer,
        })
        .collect())
}
