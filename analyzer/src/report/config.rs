//! The `[report]` section of `tianmu.toml`: who the risk-assessment report is about, who
//! signs it, and the response-time targets it judges alert handling against. Every key is
//! optional; a report without names leaves blank lines to sign by hand.

use std::time::Duration;

use rules::file::Problems;
use serde::Deserialize;

/// `[report]`: the risk-assessment report (`tianmu report`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReportRaw {
    /// 被评估单位: the organisation that runs the assessed platform.
    pub organization: Option<String>,
    /// 被评估平台: the platform's name, e.g. "省公共数据平台".
    pub platform: Option<String>,
    /// 评估单位: who carries out the assessment.
    pub assessor_organization: Option<String>,
    /// 评估人: signs the report as its author.
    pub assessor: Option<String>,
    /// 审核人: reviews it.
    pub reviewer: Option<String>,
    /// 批准人: approves it.
    pub approver: Option<String>,
    /// An alert not acknowledged within this long after it was raised is a finding
    /// (response-time target for acknowledging).
    #[serde(default = "default_acknowledge_within", with = "humantime_serde")]
    pub acknowledge_within: Duration,
    /// An alert not closed within this long after it was raised is a finding
    /// (response-time target for closing).
    #[serde(default = "default_close_within", with = "humantime_serde")]
    pub close_within: Duration,
}

impl Default for ReportRaw {
    fn default() -> Self {
        ReportRaw {
            organization: None,
            platform: None,
            assessor_organization: None,
            assessor: None,
            reviewer: None,
            approver: None,
            acknowledge_within: default_acknowledge_within(),
            close_within: default_close_within(),
        }
    }
}

fn default_acknowledge_within() -> Duration {
    Duration::from_secs(3600)
}

fn default_close_within() -> Duration {
    Duration::from_secs(72 * 3600)
}

/// Validated `[report]`: names are trimmed, non-empty and printable.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportConfig {
    pub organization: Option<String>,
    pub platform: Option<String>,
    pub assessor_organization: Option<String>,
    pub assessor: Option<String>,
    pub reviewer: Option<String>,
    pub approver: Option<String>,
    pub acknowledge_within: Duration,
    pub close_within: Duration,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportRaw::default().validate("report", &mut Problems::default())
    }
}

/// Longest name accepted, in characters.
const MAX_NAME: usize = 100;

impl ReportRaw {
    pub fn validate(self, key: &str, p: &mut Problems) -> ReportConfig {
        let mut name = |field: &str, v: Option<String>| -> Option<String> {
            let v = v?;
            let t = v.trim();
            if t.is_empty() {
                p.add(
                    format!("{key}.{field}"),
                    "is empty; leave the key out to sign by hand",
                );
                None
            } else if t.chars().any(char::is_control) {
                p.add(format!("{key}.{field}"), "contains a control character");
                None
            } else if t.chars().count() > MAX_NAME {
                p.add(
                    format!("{key}.{field}"),
                    format!("longer than {MAX_NAME} characters"),
                );
                None
            } else {
                Some(t.to_owned())
            }
        };
        let organization = name("organization", self.organization);
        let platform = name("platform", self.platform);
        let assessor_organization = name("assessor-organization", self.assessor_organization);
        let assessor = name("assessor", self.assessor);
        let reviewer = name("reviewer", self.reviewer);
        let approver = name("approver", self.approver);
        for (field, d) in [
            ("acknowledge-within", self.acknowledge_within),
            ("close-within", self.close_within),
        ] {
            if d < Duration::from_secs(1) {
                p.add(format!("{key}.{field}"), "expected at least 1s");
            }
        }
        if self.close_within < self.acknowledge_within {
            p.add(
                format!("{key}.close-within"),
                "is shorter than acknowledge-within; an alert is acknowledged before it is closed",
            );
        }
        ReportConfig {
            organization,
            platform,
            assessor_organization,
            assessor,
            reviewer,
            approver,
            acknowledge_within: self.acknowledge_within,
            close_within: self.close_within,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_names_are_all_reported() {
        let mut p = Problems::default();
        let c = ReportRaw::default().validate("report", &mut p);
        assert!(p.is_empty());
        assert_eq!(c.assessor, None);
        assert_eq!(c.acknowledge_within, Duration::from_secs(3600));

        let raw = ReportRaw {
            assessor: Some("  张三 ".into()),
            reviewer: Some(" ".into()),
            approver: Some("王\u{7}五".into()),
            platform: Some("平".repeat(101)),
            acknowledge_within: Duration::from_secs(7200),
            close_within: Duration::from_secs(60),
            ..ReportRaw::default()
        };
        let mut p = Problems::default();
        let c = raw.validate("report", &mut p);
        assert_eq!(c.assessor.as_deref(), Some("张三"));
        let keys: Vec<String> = p.into_vec().into_iter().map(|x| x.key).collect();
        assert_eq!(
            keys,
            [
                "report.platform",
                "report.reviewer",
                "report.approver",
                "report.close-within"
            ]
        );
    }
}
