//! Sensitive-data detectors: ID card numbers, mobile numbers, bank cards, unified social
//! credit codes, e-mail addresses, passports, licence plates and IPv4 addresses, found in
//! arbitrary bytes by one Hyperscan database and confirmed by [`validate`] (check digits,
//! dates, ranges) before they count.
//!
//! Three stages use them: the sensor inspects payloads, the firewall masks result columns the
//! catalog does not know, and the analyzer compares what a column holds with its catalogued
//! level ("column X holds ID numbers but is catalogued L2").
//!
//! ```
//! use rules::detect::{Detectors, Kind};
//!
//! # fn main() -> Result<(), rules::detect::DetectError> {
//! let detectors = Detectors::new()?; // once, shared (it is `Send + Sync`)
//! let mut scratch = detectors.scratch()?; // one per thread
//! let findings = detectors.findings(&mut scratch, br#"{"id_card":"11010519491231002X"}"#, 64)?;
//! assert_eq!(findings.count(Kind::IdCard), 1);
//! # Ok(())
//! # }
//! ```
//!
//! A token is a maximal run of its characters: a digit kind never matches inside a longer
//! digit run, next to a letter, before an `@` or next to a decimal point. When the same
//! characters validate as more than one kind, only the first [`Kind`] in declaration order
//! is reported (an 18-digit number that is a valid ID card is not also a bank card).

mod patterns;
pub mod validate;

use std::fmt;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

use hyperscan::{BlockDatabase, Builder as _, Matching, Pattern, PatternFlags, Patterns};
use serde::{Deserialize, Serialize};

use patterns::{MAX_TOKEN, SPECS};
pub use validate::{
    bank_card_valid, email_valid, id_card_check_digit, id_card_valid, ipv4_valid,
    licence_plate_valid, luhn_check_digit, luhn_valid, mobile_valid, passport_valid,
    uscc_check_char, uscc_valid,
};

/// What a detector finds. Declaration order is precedence order: when one token validates
/// as several kinds, the first wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Resident ID card number (居民身份证号码), 18 characters or the old 15 digits.
    IdCard,
    /// Unified social credit code of an organisation (统一社会信用代码, GB 32100-2015).
    SocialCreditCode,
    /// Bank card number (UnionPay, Visa, Mastercard, Amex, JCB, Discover).
    BankCard,
    /// Mainland China mobile number, optionally with `+86`, `86` or `0086` glued in front.
    Mobile,
    /// Chinese ordinary passport number.
    Passport,
    /// Chinese motor vehicle licence plate.
    LicencePlate,
    /// E-mail address.
    Email,
    /// IPv4 address in dotted-quad notation.
    Ipv4,
}

impl Kind {
    /// Every kind, in precedence order.
    pub const ALL: [Kind; 8] = [
        Kind::IdCard,
        Kind::SocialCreditCode,
        Kind::BankCard,
        Kind::Mobile,
        Kind::Passport,
        Kind::LicencePlate,
        Kind::Email,
        Kind::Ipv4,
    ];

    /// The stable kebab-case name, as in configuration files and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::IdCard => "id-card",
            Kind::SocialCreditCode => "social-credit-code",
            Kind::BankCard => "bank-card",
            Kind::Mobile => "mobile",
            Kind::Passport => "passport",
            Kind::LicencePlate => "licence-plate",
            Kind::Email => "email",
            Kind::Ipv4 => "ipv4",
        }
    }

    /// Whether `token` (the value alone, without surrounding bytes) is valid for this kind;
    /// the validator of each kind documents what it accepts.
    pub fn validate(self, token: &[u8]) -> bool {
        match self {
            Kind::IdCard => id_card_valid(token),
            Kind::SocialCreditCode => uscc_valid(token),
            Kind::BankCard => bank_card_valid(token),
            Kind::Mobile => mobile_valid(token),
            Kind::Passport => passport_valid(token),
            Kind::LicencePlate => licence_plate_valid(token),
            Kind::Email => email_valid(token),
            Kind::Ipv4 => ipv4_valid(token),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validated value: its kind and where it is in the scanned bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Finding {
    /// What the value is.
    pub kind: Kind,
    /// Byte offsets of the value in the scanned buffer (a mobile number's span includes a
    /// glued `+86`/`86`/`0086`).
    pub span: Range<usize>,
}

/// What one scan found: a count per kind (exact) and the first `limit` findings with their
/// spans, in the order Hyperscan reported them (by end offset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    counts: [u64; Kind::ALL.len()],
    spans: Vec<Finding>,
    limit: usize,
    truncated: u64,
}

impl Findings {
    /// Empty findings that keep at most `limit` spans.
    pub fn new(limit: usize) -> Self {
        Findings {
            limit,
            ..Findings::default()
        }
    }

    fn record(&mut self, finding: Finding) {
        if let Some(count) = self.counts.get_mut(finding.kind.index()) {
            *count += 1;
        }
        if self.spans.len() < self.limit {
            self.spans.push(finding);
        } else {
            self.truncated += 1;
        }
    }

    /// How many values of `kind` were found.
    pub fn count(&self, kind: Kind) -> u64 {
        self.counts.get(kind.index()).copied().unwrap_or(0)
    }

    /// How many values were found in all.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The kinds found and how often, in precedence order.
    pub fn counts(&self) -> impl Iterator<Item = (Kind, u64)> + '_ {
        Kind::ALL
            .into_iter()
            .map(|k| (k, self.count(k)))
            .filter(|&(_, n)| n > 0)
    }

    /// The findings kept (at most the limit).
    pub fn spans(&self) -> &[Finding] {
        &self.spans
    }

    /// How many findings were counted but not kept because the limit was reached.
    pub fn truncated(&self) -> u64 {
        self.truncated
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }
}

/// What can go wrong compiling or running the detectors.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// [`Detectors::with`] was given no kinds (Hyperscan cannot compile an empty database).
    #[error("no detector kinds selected")]
    NoKinds,
    /// Hyperscan rejected the expressions or the CPU (it needs SSSE3).
    #[error("compiling the detector database failed: {0}")]
    Compile(#[source] hyperscan::Error),
    /// Hyperscan could not allocate or grow scratch space.
    #[error("allocating Hyperscan scratch space failed: {0}")]
    Scratch(#[source] hyperscan::Error),
    /// Hyperscan failed during a scan (not for any input: for a broken scratch or database).
    #[error("Hyperscan scan failed: {0}")]
    Scan(#[source] hyperscan::Error),
}

/// Per-thread working memory for [`Detectors::scan`]; allocate one per thread (or per
/// concurrent scanner) with [`Detectors::scratch`]. A scratch from another [`Detectors`]
/// still works: it is grown to fit on first use.
pub struct Scratch {
    hs: hyperscan::Scratch,
    owner: u64,
}

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scratch")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// The compiled detectors: one Hyperscan block-mode database for the selected kinds.
/// Compile once and share (`Send + Sync`); scanning needs a [`Scratch`] per thread.
pub struct Detectors {
    db: BlockDatabase,
    /// Hyperscan id → index into `SPECS`.
    specs: Vec<usize>,
    kinds: Vec<Kind>,
    enabled: [bool; Kind::ALL.len()],
    id: u64,
}

impl fmt::Debug for Detectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detectors")
            .field("kinds", &self.kinds)
            .finish_non_exhaustive()
    }
}

/// Bytes handed to one Hyperscan call (its length argument is 32-bit); longer inputs are
/// scanned in overlapping windows.
const WINDOW: usize = 1 << 30;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Per-scan facts the validators need.
#[derive(Clone, Copy)]
struct Context {
    enabled: [bool; Kind::ALL.len()],
    max_year: u16,
}

impl Context {
    fn on(&self, kind: Kind) -> bool {
        self.enabled.get(kind.index()).copied().unwrap_or(false)
    }

    /// Whether `token` is valid as `kind` (ID cards against this scan's current year). The
    /// length tests only skip calls: every validator checks the length itself.
    fn valid(&self, kind: Kind, token: &[u8]) -> bool {
        let len = token.len();
        match kind {
            Kind::IdCard => {
                matches!(len, 15 | 18) && validate::id_card_valid_until(token, self.max_year)
            }
            Kind::SocialCreditCode => len == 18 && uscc_valid(token),
            Kind::BankCard => (15..=19).contains(&len) && bank_card_valid(token),
            Kind::Mobile => matches!(len, 11 | 13 | 15) && mobile_valid(token),
            other => other.validate(token),
        }
    }
}

impl Detectors {
    /// Compiles all detectors into one database.
    pub fn new() -> Result<Detectors, DetectError> {
        Detectors::with(&Kind::ALL)
    }

    /// Compiles the detectors of `kinds` (duplicates ignored) into one database.
    pub fn with(kinds: &[Kind]) -> Result<Detectors, DetectError> {
        let mut enabled = [false; Kind::ALL.len()];
        for kind in kinds {
            if let Some(on) = enabled.get_mut(kind.index()) {
                *on = true;
            }
        }
        let specs: Vec<usize> = SPECS
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.kinds
                    .iter()
                    .any(|k| enabled.get(k.index()).copied().unwrap_or(false))
            })
            .map(|(i, _)| i)
            .collect();
        if specs.is_empty() {
            return Err(DetectError::NoKinds);
        }
        let patterns = specs
            .iter()
            .enumerate()
            .filter_map(|(id, &i)| SPECS.get(i).map(|s| (id, s)))
            .map(|(id, s)| {
                let pattern = Pattern::with_flags(s.expression, PatternFlags::empty())
                    .map_err(DetectError::Compile)?;
                Ok(Pattern {
                    id: Some(id),
                    ..pattern
                })
            })
            .collect::<Result<Vec<_>, DetectError>>()?;
        let patterns = Patterns::from(patterns);
        let db: BlockDatabase = patterns.build().map_err(DetectError::Compile)?;
        let kinds = Kind::ALL
            .into_iter()
            .filter(|k| enabled.get(k.index()).copied().unwrap_or(false))
            .collect();
        Ok(Detectors {
            db,
            specs,
            kinds,
            enabled,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The kinds this database detects, in precedence order.
    pub fn kinds(&self) -> &[Kind] {
        &self.kinds
    }

    /// The Hyperscan expressions compiled into this database, in pattern-id order, all
    /// without flags (for baselines and diagnostics).
    pub fn expressions(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.specs
            .iter()
            .filter_map(|&i| SPECS.get(i).map(|s| s.expression))
    }

    /// Allocates scratch space for scanning with this database (one per thread).
    pub fn scratch(&self) -> Result<Scratch, DetectError> {
        Ok(Scratch {
            hs: self.db.alloc_scratch().map_err(DetectError::Scratch)?,
            owner: self.id,
        })
    }

    /// Scans `data` and calls `on_match` for every validated value, in the order Hyperscan
    /// reports them (by end offset). `data` may be any bytes of any length: invalid UTF-8 is
    /// fine, and inputs over 1 GiB are scanned in overlapping windows (Hyperscan takes a
    /// 32-bit length), each value reported once.
    ///
    /// `on_match` runs inside Hyperscan's callback; if it panics, the scan stops and the
    /// panic resumes after Hyperscan has returned.
    pub fn scan<F: FnMut(Finding)>(
        &self,
        scratch: &mut Scratch,
        data: &[u8],
        mut on_match: F,
    ) -> Result<(), DetectError> {
        let mut panicked = None;
        let result = self.scan_windows(scratch, data, WINDOW, |finding| {
            match catch_unwind(AssertUnwindSafe(|| on_match(finding))) {
                Ok(()) => true,
                Err(payload) => {
                    panicked = Some(payload);
                    false
                }
            }
        });
        if let Some(payload) = panicked {
            resume_unwind(payload);
        }
        result
    }

    /// Scans `data` and returns the count of each kind and the first `limit` findings.
    pub fn findings(
        &self,
        scratch: &mut Scratch,
        data: &[u8],
        limit: usize,
    ) -> Result<Findings, DetectError> {
        let mut findings = Findings::new(limit);
        self.scan_windows(scratch, data, WINDOW, |f| {
            findings.record(f);
            true
        })?;
        Ok(findings)
    }

    /// Scans `data` in windows of `step` bytes (plus an overlap of [`MAX_TOKEN`] bytes);
    /// each finding is reported by the window its token starts in. `sink` returns whether
    /// to go on.
    fn scan_windows(
        &self,
        scratch: &mut Scratch,
        data: &[u8],
        step: usize,
        mut sink: impl FnMut(Finding) -> bool,
    ) -> Result<(), DetectError> {
        if data.is_empty() {
            return Ok(());
        }
        if scratch.owner != self.id {
            self.db
                .realloc_scratch(&mut scratch.hs)
                .map_err(DetectError::Scratch)?;
            scratch.owner = self.id;
        }
        let ctx = Context {
            enabled: self.enabled,
            max_year: validate::current_year(),
        };
        let step = step.max(1);
        let mut base = 0;
        let mut stopped = false;
        // The end of the last span reported per kind, so a token is reported once even if
        // two expressions of its kind end on it.
        let mut last_end = [usize::MAX; Kind::ALL.len()];
        while base < data.len() && !stopped {
            let own_end = base.saturating_add(step).min(data.len());
            let window_end = own_end.saturating_add(MAX_TOKEN + 8).min(data.len());
            let last_window = window_end == data.len();
            let Some(window) = data.get(base..window_end) else {
                break;
            };
            let on_event = |id: u32, _from: u64, to: u64, _flags: u32| {
                let Some(finding) = self.check(&ctx, data, id, base, to) else {
                    return Matching::Continue;
                };
                let owned =
                    finding.span.start >= base && (last_window || finding.span.start < own_end);
                let slot = last_end.get_mut(finding.kind.index());
                let fresh = slot
                    .as_ref()
                    .is_none_or(|&&mut end| end != finding.span.end);
                if !owned || !fresh {
                    return Matching::Continue;
                }
                if let Some(slot) = slot {
                    *slot = finding.span.end;
                }
                if sink(finding) {
                    Matching::Continue
                } else {
                    stopped = true;
                    Matching::Terminate
                }
            };
            let result = self.db.scan(window, &scratch.hs, on_event);
            let terminated = matches!(
                result,
                Err(hyperscan::Error::Hyperscan(
                    hyperscan::HsError::ScanTerminated
                ))
            );
            if !(stopped && terminated) {
                result.map_err(DetectError::Scan)?;
            }
            if last_window {
                break;
            }
            base = own_end;
        }
        Ok(())
    }

    /// Turns Hyperscan's match of pattern `id` ending at window offset `to` into a
    /// validated finding, or `None`.
    fn check(&self, ctx: &Context, data: &[u8], id: u32, base: usize, to: u64) -> Option<Finding> {
        let spec = SPECS.get(*self.specs.get(usize::try_from(id).ok()?)?)?;
        let to = base.checked_add(usize::try_from(to).ok()?)?;
        let span = spec.locate.token(data, to)?;
        let token = data.get(span.clone())?;
        let kind = spec
            .kinds
            .iter()
            .copied()
            .find(|&k| ctx.on(k) && ctx.valid(k, token))?;
        // A `+` glued to a mobile number's country code belongs to it.
        let plus = kind == Kind::Mobile
            && token.starts_with(b"86")
            && span.start.checked_sub(1).and_then(|i| data.get(i)) == Some(&b'+');
        let span = if plus { span.start - 1..span.end } else { span };
        Some(Finding { kind, span })
    }
}

#[cfg(test)]
mod tests;
