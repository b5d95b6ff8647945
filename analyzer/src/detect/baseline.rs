//! A robust baseline of an account's own volume: the median and the median absolute
//! deviation (MAD) of its earlier windows with traffic. Median and MAD ignore the odd huge
//! window that a mean and a standard deviation would chase, so one exfiltration does not
//! raise the bar for the next.
//!
//! With fewer than `min_windows` earlier windows the account is in its cold start: the
//! baseline is not trusted and a fixed threshold applies instead.
//!
//! [`seasonal`] picks between two samples of one account — the same hour of the week in
//! earlier weeks, or every earlier hour — for the volume-anomaly detector, whose cold start
//! raises nothing rather than applying a fixed bar.

/// Scales a MAD to estimate a standard deviation for normally distributed data.
const MAD_TO_SIGMA: f64 = 1.4826;
/// A MAD below this fraction of the median is raised to it: perfectly regular traffic
/// (every window the same) would otherwise make any wobble anomalous.
const MIN_RELATIVE_SPREAD: f64 = 0.1;

/// Median and MAD of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    pub median: f64,
    pub mad: f64,
    /// How many windows it was computed from.
    pub windows: usize,
}

impl Baseline {
    /// `None` for an empty sample.
    pub fn of(samples: &[f64]) -> Option<Baseline> {
        let median = median(samples.to_vec())?;
        let deviations: Vec<f64> = samples.iter().map(|x| (x - median).abs()).collect();
        let mad = median_or_zero(deviations);
        Some(Baseline {
            median,
            mad,
            windows: samples.len(),
        })
    }

    /// The value above which a window is anomalous: the median plus `k` estimated standard
    /// deviations (scaled MAD, floored at a tenth of the median and at 1).
    pub fn upper(&self, k: f64) -> f64 {
        let spread = (self.mad * MAD_TO_SIGMA)
            .max(self.median * MIN_RELATIVE_SPREAD)
            .max(1.0);
        self.median + k * spread
    }
}

/// How a threshold was arrived at; shown in alert titles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Basis {
    /// Too little history: the fixed cold-start value.
    ColdStart { windows: usize },
    /// The account's own baseline.
    Learned(Baseline),
}

/// The threshold for one account: its baseline's upper bound once it has `min_windows`
/// earlier windows, the cold-start value before; never below `floor`.
pub fn threshold(
    samples: &[f64],
    min_windows: usize,
    k: f64,
    cold: f64,
    floor: f64,
) -> (f64, Basis) {
    match Baseline::of(samples) {
        Some(b) if b.windows >= min_windows => (b.upper(k).max(floor), Basis::Learned(b)),
        _ => (
            cold.max(floor),
            Basis::ColdStart {
                windows: samples.len(),
            },
        ),
    }
}

/// Which sample a seasonal baseline was computed from; shown in alert titles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Season {
    /// The same hour of the week in earlier weeks.
    HourOfWeek(Baseline),
    /// Every earlier hour with traffic (too few weeks at this hour yet).
    AllHours(Baseline),
}

impl Season {
    pub fn baseline(&self) -> &Baseline {
        match self {
            Season::HourOfWeek(b) | Season::AllHours(b) => b,
        }
    }
}

/// The baseline of an hour: its own hour of the week once `same` holds `min_same` samples,
/// else every hour's once `all` holds `min_all`; `None` during the cold start (nothing to
/// judge by).
pub fn seasonal(same: &[f64], all: &[f64], min_same: usize, min_all: usize) -> Option<Season> {
    match Baseline::of(same) {
        Some(b) if b.windows >= min_same => Some(Season::HourOfWeek(b)),
        _ => match Baseline::of(all) {
            Some(b) if b.windows >= min_all => Some(Season::AllHours(b)),
            _ => None,
        },
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

fn median_or_zero(v: Vec<f64>) -> f64 {
    median(v).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mad_table() {
        // (sample, median, mad)
        let cases: &[(&[f64], f64, f64)] = &[
            (&[5.0], 5.0, 0.0),
            (&[1.0, 3.0], 2.0, 1.0),
            (&[1.0, 2.0, 3.0, 4.0, 100.0], 3.0, 1.0),
            (&[10.0, 10.0, 10.0, 10.0], 10.0, 0.0),
            (&[7.0, 1.0, 4.0], 4.0, 3.0),
        ];
        for (sample, med, mad) in cases {
            let b = Baseline::of(sample).expect("non-empty");
            assert_eq!(
                (b.median, b.mad, b.windows),
                (*med, *mad, sample.len()),
                "{sample:?}"
            );
        }
        assert_eq!(Baseline::of(&[]), None);
    }

    #[test]
    fn one_outlier_does_not_move_the_baseline() {
        let mut history = vec![1000.0; 20];
        let before = Baseline::of(&history).expect("non-empty").upper(6.0);
        history.push(1_000_000.0);
        let after = Baseline::of(&history).expect("non-empty").upper(6.0);
        assert_eq!(before, after);
    }

    #[test]
    fn constant_history_has_a_floor_on_its_spread() {
        let b = Baseline::of(&[1000.0; 30]).expect("non-empty");
        // MAD 0 → spread is a tenth of the median: 1000 + 6 × 100.
        assert_eq!(b.upper(6.0), 1600.0);
        let zero = Baseline::of(&[0.0; 30]).expect("non-empty");
        assert_eq!(zero.upper(6.0), 6.0);
    }

    #[test]
    fn cold_start_until_enough_windows() {
        let few = [100.0; 5];
        let (t, basis) = threshold(&few, 12, 6.0, 10_000.0, 1_000.0);
        assert_eq!(t, 10_000.0);
        assert_eq!(basis, Basis::ColdStart { windows: 5 });
        let (t, basis) = threshold(&[], 12, 6.0, 10_000.0, 1_000.0);
        assert_eq!((t, basis), (10_000.0, Basis::ColdStart { windows: 0 }));

        // Warm: 12 windows around 2000 rows; the learned bound wins over the floor.
        let warm: Vec<f64> = (0..12).map(|i| 2000.0 + f64::from(i % 3) * 100.0).collect();
        let (t, basis) = threshold(&warm, 12, 6.0, 10_000.0, 1_000.0);
        let Basis::Learned(b) = basis else {
            panic!("expected a learned baseline, got {basis:?}")
        };
        assert_eq!(b.median, 2100.0);
        assert_eq!(b.mad, 100.0);
        // spread = max(148.26, 210) = 210 → 2100 + 6 × 210
        assert!((t - 3360.0).abs() < 1e-9, "{t}");

        // Warm but tiny: the floor wins.
        let (t, _) = threshold(&[10.0; 20], 12, 6.0, 10_000.0, 1_000.0);
        assert_eq!(t, 1_000.0);
    }

    #[test]
    fn seasonal_prefers_the_hour_of_week_then_all_hours_then_nothing() {
        let all: Vec<f64> = (0..30).map(|i| f64::from(i % 5) * 10.0).collect();
        // Three earlier weeks at this hour: their own baseline.
        let Some(Season::HourOfWeek(b)) = seasonal(&[900.0, 1000.0, 1100.0], &all, 3, 24) else {
            panic!("expected the hour-of-week baseline")
        };
        assert_eq!((b.median, b.mad, b.windows), (1000.0, 100.0, 3));
        // Two weeks only: the account's all-hours baseline.
        let Some(Season::AllHours(b)) = seasonal(&[900.0, 1000.0], &all, 3, 24) else {
            panic!("expected the all-hours baseline")
        };
        assert_eq!((b.median, b.windows), (20.0, 30));
        // Too little of either: cold start, nothing to judge by.
        assert_eq!(seasonal(&[900.0], &all[..10], 3, 24), None);
        assert_eq!(seasonal(&[], &[], 1, 1), None);
    }

    #[test]
    fn non_finite_samples_are_ignored() {
        let b = Baseline::of(&[f64::NAN, 4.0, 6.0]).expect("finite values");
        assert_eq!(b.median, 5.0);
    }
}
