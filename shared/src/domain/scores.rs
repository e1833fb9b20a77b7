//! Open Wearables computed scores (data-model §5): the sleep score (§5.1) and the HRV-based resilience
//! score (§5.2). Both are stored as HealthScores with `provider = internal` and no qualifier.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use serde_json::{Value, json};

use super::numeric::{round_half_away_to, round_half_even, trunc_i64};
use super::sleep::{SleepStage, StageInterval, sleep_period_awakenings};
use super::time::{local_datetime, start_of_utc_day};

// ---------------------------------------------------------------------------------------------
// Sleep score (§5.1)
// ---------------------------------------------------------------------------------------------

/// Pillar weights: duration / stages / consistency / interruptions.
pub const SLEEP_WEIGHTS: [f64; 4] = [0.40, 0.20, 0.20, 0.20];
/// Stage target minutes (deep and REM).
pub const STAGE_TARGET_MINUTES: f64 = 90.0;
/// Consistency grace, late/early windows (minutes), max early penalty, rolling window (nights).
pub const CONSISTENCY_GRACE: f64 = 15.0;
/// Late/early window length in minutes.
pub const CONSISTENCY_WINDOW: f64 = 105.0;
/// Cap of the early-bedtime penalty.
pub const MAX_EARLY_PENALTY: f64 = 20.0;
/// Bedtimes used for the consistency median.
pub const CONSISTENCY_NIGHTS: usize = 14;
/// WASO grace and penalty window (minutes).
pub const WASO_GRACE: f64 = 20.0;
/// WASO penalty window (minutes).
pub const WASO_WINDOW: f64 = 70.0;
/// Awakenings strictly longer than this (minutes) are significant.
pub const SIGNIFICANT_AWAKENING: f64 = 5.0;
/// Frequency fractions for 0, 1, 2, 3, ≥4 significant awakenings.
pub const FREQUENCY_FRACTIONS: [f64; 5] = [1.0, 1.0, 0.75, 0.5, 0.0];

/// `S(x; k, mid, anchor) = 100·(1 + e^{k(anchor−mid)}) / (1 + e^{k(x−mid)})`, exponents capped at 709.
pub fn sigmoid(x: f64, k: f64, mid: f64, anchor: f64) -> f64 {
    let e = |z: f64| z.min(709.0).exp();
    100.0 * (1.0 + e(k * (anchor - mid))) / (1.0 + e(k * (x - mid)))
}

fn clamp_score(x: i64) -> i64 {
    x.clamp(0, 100)
}

/// Duration pillar from net sleep minutes.
pub fn duration_score(total_sleep_minutes: f64) -> i64 {
    let h = total_sleep_minutes / 60.0;
    if (7.0..=9.0).contains(&h) {
        100
    } else if h < 7.0 {
        clamp_score(trunc_i64(sigmoid(h, -1.5, 5.0, 7.0)))
    } else {
        trunc_i64(sigmoid(h, 0.8, 11.0, 9.0)).clamp(50, 100)
    }
}

fn stage_component(minutes: f64) -> i64 {
    if minutes >= STAGE_TARGET_MINUTES {
        100
    } else if minutes <= 0.0 {
        0
    } else {
        trunc_i64(minutes / STAGE_TARGET_MINUTES * 100.0)
    }
}

/// Stages pillar: `clamp(int(0.5·deep + 0.5·rem))` of the per-stage scores.
pub fn stages_score(deep_minutes: f64, rem_minutes: f64) -> i64 {
    let (d, r) = (
        stage_component(deep_minutes) as f64,
        stage_component(rem_minutes) as f64,
    );
    clamp_score(trunc_i64(0.5 * d + 0.5 * r))
}

/// Bedtime as hours past noon (23:00 → 11.0, 01:00 → 13.0).
pub fn hours_past_noon(t: NaiveDateTime) -> f64 {
    let mut h = f64::from(t.hour()) + f64::from(t.minute()) / 60.0 + f64::from(t.second()) / 3600.0;
    if h < 12.0 {
        h += 24.0;
    }
    h - 12.0
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Consistency pillar: 0 without history; late penalty unbounded, early penalty capped at 20.
pub fn consistency_score(tonight: NaiveDateTime, history: &[NaiveDateTime]) -> i64 {
    let mut past: Vec<f64> = history.iter().map(|t| hours_past_noon(*t)).collect();
    let Some(med) = median(&mut past) else {
        return 0;
    };
    let diff = (hours_past_noon(tonight) - med) * 60.0;
    let penalty = if diff > CONSISTENCY_GRACE {
        (diff - CONSISTENCY_GRACE) / CONSISTENCY_WINDOW * 100.0
    } else if diff < -CONSISTENCY_GRACE {
        ((diff.abs() - CONSISTENCY_GRACE) / CONSISTENCY_WINDOW * 100.0).min(MAX_EARLY_PENALTY)
    } else {
        0.0
    };
    trunc_i64(100.0 - penalty).max(0)
}

/// Interruptions pillar from WASO minutes and awakening durations (minutes).
pub fn interruptions_score(waso_minutes: f64, awakenings_minutes: &[f64]) -> i64 {
    let dur = if waso_minutes <= WASO_GRACE {
        80.0
    } else {
        (80.0 - (waso_minutes - WASO_GRACE) / WASO_WINDOW * 80.0).max(0.0)
    };
    let n = awakenings_minutes
        .iter()
        .filter(|m| **m > SIGNIFICANT_AWAKENING)
        .count();
    let freq = 20.0 * FREQUENCY_FRACTIONS[n.min(4)];
    clamp_score(trunc_i64(dur + freq))
}

/// WASO minutes and awakening list: from stage intervals (awake inside the sleep period) when
/// present, else the stored awake minutes with no awakening list.
pub fn waso(stages: Option<&[StageInterval]>, awake_minutes: Option<i64>) -> (f64, Vec<f64>) {
    match stages.filter(|s| !s.is_empty()) {
        Some(stages) => {
            let list: Vec<f64> = sleep_period_awakenings(stages)
                .iter()
                .filter(|s| s.stage == SleepStage::Awake)
                .map(|s| s.micros() as f64 / 60_000_000.0)
                .collect();
            (list.iter().sum(), list)
        }
        None => (awake_minutes.unwrap_or(0) as f64, Vec::new()),
    }
}

/// Inputs of one session's sleep score.
#[derive(Debug, Clone, PartialEq)]
pub struct SleepScoreInput {
    /// `sleep_total_duration_minutes` (net sleep).
    pub total_sleep_minutes: i64,
    /// Deep minutes (missing ⇒ 0).
    pub deep_minutes: Option<i64>,
    /// REM minutes (missing ⇒ 0).
    pub rem_minutes: Option<i64>,
    /// Stored awake minutes (used when there are no stage intervals).
    pub awake_minutes: Option<i64>,
    /// Stage intervals.
    pub stages: Option<Vec<StageInterval>>,
    /// Local start datetime of the session.
    pub session_start_local: NaiveDateTime,
    /// Historical local bedtimes (see [`consistency_history`]).
    pub history: Vec<NaiveDateTime>,
}

/// The four pillars and the overall score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SleepScore {
    /// Overall 0–100 (weighted mean, truncated).
    pub overall: i64,
    /// Duration pillar.
    pub duration: i64,
    /// Stages pillar.
    pub stages: i64,
    /// Consistency pillar.
    pub consistency: i64,
    /// Interruptions pillar.
    pub interruptions: i64,
}

impl SleepScore {
    /// HealthScore `components` JSON: `{duration:{value}, stages:{value}, consistency:{value}, interruptions:{value}}`.
    pub fn components(&self) -> Value {
        json!({
            "duration": {"value": self.duration},
            "stages": {"value": self.stages},
            "consistency": {"value": self.consistency},
            "interruptions": {"value": self.interruptions},
        })
    }
}

/// Combines pillars exactly as the reference: `f = D/100·0.4 + St/100·0.2 + C/100·0.2 + I/100·0.2`,
/// `overall = clamp(int(0 + 100·f))`.
pub fn overall_sleep_score(d: i64, st: i64, c: i64, i: i64) -> i64 {
    let f = (d as f64 / 100.0) * SLEEP_WEIGHTS[0]
        + (st as f64 / 100.0) * SLEEP_WEIGHTS[1]
        + (c as f64 / 100.0) * SLEEP_WEIGHTS[2]
        + (i as f64 / 100.0) * SLEEP_WEIGHTS[3];
    clamp_score(trunc_i64(0.0 + 100.0 * f))
}

/// Computes the sleep score; `None` unless `0 < total_sleep_minutes ≤ 1440`.
pub fn sleep_score(input: &SleepScoreInput) -> Option<SleepScore> {
    if input.total_sleep_minutes <= 0 || input.total_sleep_minutes > 1440 {
        return None;
    }
    let duration = duration_score(input.total_sleep_minutes as f64);
    let stages = stages_score(
        input.deep_minutes.unwrap_or(0) as f64,
        input.rem_minutes.unwrap_or(0) as f64,
    );
    let consistency = consistency_score(input.session_start_local, &input.history);
    let (waso_min, awakenings) = waso(input.stages.as_deref(), input.awake_minutes);
    let interruptions = interruptions_score(waso_min, &awakenings);
    Some(SleepScore {
        overall: overall_sleep_score(duration, stages, consistency, interruptions),
        duration,
        stages,
        consistency,
        interruptions,
    })
}

/// Consistency history: from the local start datetimes of the user's other non-nap sessions, walk
/// nights (local start dates) strictly before the target night, newest first, not older than
/// `target − 15 days`, keeping the first (latest-starting) session per night, up to 14 bedtimes.
pub fn consistency_history(
    target_start_local: NaiveDateTime,
    others_local_starts: &[NaiveDateTime],
) -> Vec<NaiveDateTime> {
    let target_night = target_start_local.date();
    let oldest = target_night - Duration::days(15);
    let mut sorted = others_local_starts.to_vec();
    sorted.sort_by(|a, b| b.cmp(a));
    let mut nights: Vec<NaiveDate> = Vec::new();
    let mut out = Vec::new();
    for t in sorted {
        let night = t.date();
        if night >= target_night || night < oldest || nights.contains(&night) {
            continue;
        }
        nights.push(night);
        out.push(t);
        if out.len() == CONSISTENCY_NIGHTS {
            break;
        }
    }
    out
}

/// `recorded_at` of a per-session sleep score: the local wall-clock end labelled as UTC.
pub fn sleep_score_recorded_at(end: DateTime<Utc>, zone_offset: Option<&str>) -> DateTime<Utc> {
    Utc.from_utc_datetime(&local_datetime(end, zone_offset))
}

// ---------------------------------------------------------------------------------------------
// Resilience score (§5.2)
// ---------------------------------------------------------------------------------------------

/// Look-back days.
pub const RESILIENCE_LOOKBACK_DAYS: i64 = 7;

/// Reference dates whose resilience window `[R − 7 d, R)` contains the UTC day `d`.
pub fn resilience_dates(d: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    (1..=RESILIENCE_LOOKBACK_DAYS).map(move |k| d + Duration::days(k))
}
/// Minimum days with data.
pub const RESILIENCE_MIN_DAYS: usize = 5;
/// CV% at or below which the score is 100.
pub const CV_CEILING_PCT: f64 = 7.0;
/// CV% at or above which the score is 0.
pub const CV_FLOOR_PCT: f64 = 40.0;

/// Result of a resilience computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resilience {
    /// Coefficient of variation as a fraction (unrounded).
    pub cv: f64,
    /// 0–100 score.
    pub score: i64,
    /// Days of the 7 with data.
    pub days_counted: usize,
}

impl Resilience {
    /// Stored `value`: CV fraction with 3 decimals (numeric(6,3)).
    pub fn stored_value(&self) -> f64 {
        round_half_away_to(self.cv, 3)
    }

    /// HealthScore `components` JSON.
    pub fn components(&self) -> Value {
        json!({
            "days_counted": {"value": self.days_counted},
            "metric_type": {"qualifier": "RMSSD"},
            "resilience_score": {"value": self.score},
        })
    }
}

/// Sleep windows of one session: one per asleep stage interval with positive length, or the whole
/// session when it has no stage intervals.
pub fn sleep_windows(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    stages: Option<&[StageInterval]>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    match stages.filter(|s| !s.is_empty()) {
        Some(stages) => stages
            .iter()
            .filter(|s| s.stage.is_asleep() && s.end > s.start)
            .map(|s| (s.start, s.end))
            .collect(),
        None => vec![(start, end)],
    }
}

/// CV → 0–100 score (linear 7 % → 100 … 40 % → 0, half-even rounding).
pub fn cv_to_score(cv: f64) -> i64 {
    let pct = cv * 100.0;
    if pct <= CV_CEILING_PCT {
        100
    } else if pct >= CV_FLOOR_PCT {
        0
    } else {
        clamp_score(
            round_half_even(100.0 * (CV_FLOOR_PCT - pct) / (CV_FLOOR_PCT - CV_CEILING_PCT)) as i64,
        )
    }
}

/// Coefficient of variation (sample std-dev / mean) of daily means, after dropping non-finite and
/// non-positive values; `None` with fewer than 2 values.
pub fn coefficient_of_variation(daily_means: &[f64]) -> Option<f64> {
    let v: Vec<f64> = daily_means
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    if v.len() < 2 {
        return None;
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    Some(var.sqrt() / m)
}

/// Resilience for reference date `reference` (UTC) from the user's sleep windows and RMSSD samples.
pub fn resilience(
    reference: NaiveDate,
    windows: &[(DateTime<Utc>, DateTime<Utc>)],
    rmssd: &[(DateTime<Utc>, f64)],
) -> Option<Resilience> {
    let window_end = start_of_utc_day(reference);
    let window_start = window_end - Duration::days(RESILIENCE_LOOKBACK_DAYS);
    let mut by_day: BTreeMap<NaiveDate, (f64, u32)> = BTreeMap::new();
    for (t, v) in rmssd {
        let in_range = *t >= window_start && *t < window_end;
        if in_range && windows.iter().any(|(ws, we)| t >= ws && t < we) {
            let e = by_day.entry(t.date_naive()).or_default();
            e.0 += v;
            e.1 += 1;
        }
    }
    let days_counted = by_day.len();
    if days_counted < RESILIENCE_MIN_DAYS {
        return None;
    }
    let means: Vec<f64> = by_day.values().map(|(s, n)| s / f64::from(*n)).collect();
    let cv = coefficient_of_variation(&means)?;
    Some(Resilience {
        cv,
        score: cv_to_score(cv),
        days_counted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ndt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("test datetime")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .expect("test datetime")
    }

    #[test]
    fn duration_reference_values() {
        let cases = [
            (0.5, 0),
            (3.0, 4),
            (4.0, 19),
            (5.0, 52),
            (6.0, 85),
            (6.5, 94),
            (6.99, 99),
            (7.0, 100),
            (9.0, 100),
            (9.5, 92),
            (10.0, 82),
            (11.0, 60),
            (12.0, 50),
            (14.0, 50),
        ];
        for (h, expected) in cases {
            assert_eq!(duration_score(h * 60.0), expected, "{h} h");
        }
        assert_eq!(trunc_i64(sigmoid(12.0, 0.8, 11.0, 9.0)), 37);
    }

    #[test]
    fn worked_example_rule_9() {
        let history: Vec<NaiveDateTime> = (1..=5)
            .map(|d| ndt(&format!("2025-03-{:02} 23:00", d)))
            .collect();
        let stages = vec![
            StageInterval {
                stage: SleepStage::Awake,
                start: utc("2025-03-07T22:30:00Z"),
                end: utc("2025-03-07T23:30:00Z"),
            },
            StageInterval {
                stage: SleepStage::Light,
                start: utc("2025-03-07T23:30:00Z"),
                end: utc("2025-03-08T02:00:00Z"),
            },
            StageInterval {
                stage: SleepStage::Awake,
                start: utc("2025-03-08T02:00:00Z"),
                end: utc("2025-03-08T02:15:00Z"),
            },
            StageInterval {
                stage: SleepStage::Deep,
                start: utc("2025-03-08T02:15:00Z"),
                end: utc("2025-03-08T04:00:00Z"),
            },
            StageInterval {
                stage: SleepStage::Awake,
                start: utc("2025-03-08T04:00:00Z"),
                end: utc("2025-03-08T04:15:00Z"),
            },
            StageInterval {
                stage: SleepStage::Rem,
                start: utc("2025-03-08T04:15:00Z"),
                end: utc("2025-03-08T07:00:00Z"),
            },
            StageInterval {
                stage: SleepStage::Awake,
                start: utc("2025-03-08T07:00:00Z"),
                end: utc("2025-03-08T08:00:00Z"),
            },
        ];
        let input = SleepScoreInput {
            total_sleep_minutes: 450,
            deep_minutes: Some(60),
            rem_minutes: Some(90),
            awake_minutes: Some(150),
            stages: Some(stages),
            session_start_local: ndt("2025-03-07 23:30"),
            history,
        };
        let s = sleep_score(&input).expect("score");
        assert_eq!(
            (s.duration, s.stages, s.consistency, s.interruptions),
            (100, 83, 85, 83)
        );
        assert_eq!(s.overall, 90);
        assert_eq!(s.components()["stages"]["value"], 83);
    }

    #[test]
    fn consistency_rules() {
        let hist = [ndt("2025-03-01 23:00")];
        assert_eq!(consistency_score(ndt("2025-03-02 22:00"), &hist), 80);
        assert_eq!(consistency_score(ndt("2025-03-02 19:40"), &hist), 80);
        assert_eq!(consistency_score(ndt("2025-03-03 02:20"), &hist), 0);
        assert_eq!(consistency_score(ndt("2025-03-02 23:10"), &hist), 100);
        assert_eq!(consistency_score(ndt("2025-03-02 23:10"), &[]), 0);
        assert_eq!(hours_past_noon(ndt("2025-03-02 01:00")), 13.0);
        let even = [
            ndt("2025-03-01 22:00"),
            ndt("2025-03-02 23:00"),
            ndt("2025-03-03 00:00"),
            ndt("2025-03-04 01:00"),
        ];
        // median of 10, 11, 12, 13 = 11.5 → 23:30 tonight ⇒ no penalty
        assert_eq!(consistency_score(ndt("2025-03-05 23:30"), &even), 100);
    }

    #[test]
    fn interruptions_and_bounds() {
        assert_eq!(interruptions_score(20.0, &[]), 100);
        assert_eq!(interruptions_score(90.0, &[6.0, 6.0, 6.0, 6.0]), 0);
        assert_eq!(interruptions_score(30.0, &[15.0, 15.0]), 83);
        assert_eq!(interruptions_score(10.0, &[5.0, 5.0, 5.0]), 100);
        assert_eq!(waso(None, Some(25)), (25.0, Vec::new()));
        let base = SleepScoreInput {
            total_sleep_minutes: 0,
            deep_minutes: None,
            rem_minutes: None,
            awake_minutes: None,
            stages: None,
            session_start_local: ndt("2025-03-07 23:30"),
            history: Vec::new(),
        };
        assert!(sleep_score(&base).is_none());
        assert!(
            sleep_score(&SleepScoreInput {
                total_sleep_minutes: 1441,
                ..base.clone()
            })
            .is_none()
        );
        let s = sleep_score(&SleepScoreInput {
            total_sleep_minutes: 1440,
            ..base
        })
        .expect("score");
        assert_eq!(
            (s.duration, s.stages, s.consistency, s.interruptions),
            (50, 0, 0, 100)
        );
        assert_eq!(s.overall, 40);
        assert_eq!(stages_score(45.0, 200.0), 75);
    }

    #[test]
    fn history_selection() {
        let target = ndt("2025-03-20 23:00");
        let others = [
            ndt("2025-03-20 01:00"), // same night → excluded
            ndt("2025-03-19 23:30"),
            ndt("2025-03-19 22:00"), // same night as above, older → skipped
            ndt("2025-03-05 23:00"), // exactly 15 days → kept
            ndt("2025-03-04 23:00"), // too old
        ];
        assert_eq!(
            consistency_history(target, &others),
            vec![ndt("2025-03-19 23:30"), ndt("2025-03-05 23:00")]
        );
        assert_eq!(
            sleep_score_recorded_at(utc("2025-03-08T06:00:00Z"), Some("+02:00")),
            utc("2025-03-08T08:00:00Z")
        );
    }

    #[test]
    fn resilience_vectors_rule_10() {
        let cv = coefficient_of_variation(&[40.0, 42.0, 44.0, 46.0, 48.0]).expect("cv");
        assert!((cv - 0.071870).abs() < 1e-6);
        assert_eq!(cv_to_score(cv), 99);
        let cv2 = coefficient_of_variation(&[30.0, 60.0, 45.0, 50.0, 40.0, 35.0]).expect("cv");
        assert!((cv2 - 0.249259).abs() < 1e-6);
        assert_eq!(cv_to_score(cv2), 46);
        assert_eq!(
            coefficient_of_variation(&[50.0; 5]).map(cv_to_score),
            Some(100)
        );
        assert_eq!(cv_to_score(0.235), 50);
        assert_eq!(cv_to_score(0.40), 0);
        assert_eq!(coefficient_of_variation(&[50.0, -1.0, f64::NAN]), None);
    }

    #[test]
    fn resilience_window_and_filtering() {
        let r = NaiveDate::from_ymd_opt(2025, 3, 8).expect("date");
        let mut windows = Vec::new();
        let mut samples = Vec::new();
        for (i, v) in [40.0, 42.0, 44.0, 46.0, 48.0].iter().enumerate() {
            let night = utc(&format!("2025-03-0{}T01:00:00Z", i + 2));
            windows.push((night, night + Duration::hours(6)));
            samples.push((night + Duration::hours(1), *v));
            samples.push((night + Duration::hours(12), 500.0)); // outside sleep → ignored
        }
        samples.push((utc("2025-03-08T02:00:00Z"), 10.0)); // reference day itself → excluded
        let res = resilience(r, &windows, &samples).expect("score");
        assert_eq!(res.days_counted, 5);
        assert_eq!(res.score, 99);
        assert_eq!(res.stored_value(), 0.072);
        assert_eq!(res.components()["metric_type"]["qualifier"], "RMSSD");
        assert!(resilience(r, &windows[..4], &samples).is_none());
        let stage_windows = sleep_windows(
            utc("2025-03-02T00:00:00Z"),
            utc("2025-03-02T08:00:00Z"),
            Some(&[
                StageInterval {
                    stage: SleepStage::Awake,
                    start: utc("2025-03-02T00:00:00Z"),
                    end: utc("2025-03-02T01:00:00Z"),
                },
                StageInterval {
                    stage: SleepStage::Deep,
                    start: utc("2025-03-02T01:00:00Z"),
                    end: utc("2025-03-02T02:00:00Z"),
                },
            ]),
        );
        assert_eq!(
            stage_windows,
            vec![(utc("2025-03-02T01:00:00Z"), utc("2025-03-02T02:00:00Z"))]
        );
    }
}
