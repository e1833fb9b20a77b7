//! The provider data-coverage matrix (api.md #3): for every series type, workout, sleep and
//! menstrual-cycle field and health-score category, the providers that deliver it, built once
//! per process from the providers' declarations (`domain::coverage`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::Serialize;

use crate::domain::coverage::{DECLARATIONS, Declaration};
use crate::domain::series::{SeriesCategory, SeriesType};

/// `CoverageResponse`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Coverage {
    pub providers: Vec<String>,
    pub timeseries: Vec<Category>,
    pub workout_fields: Vec<Field>,
    pub sleep_fields: Vec<Field>,
    pub menstrual_cycle_fields: Vec<Field>,
    pub health_scores: Vec<Field>,
}

/// `TimeseriesCategory`: one display category and its metrics, sorted by code.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Category {
    pub name: &'static str,
    pub metrics: Vec<Metric>,
}

/// One series type with its unit and the providers (sorted) that deliver it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Metric {
    pub code: &'static str,
    pub unit: &'static str,
    pub providers: Vec<String>,
}

/// A workout / sleep / menstrual-cycle field or a health-score category and its providers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Field {
    pub code: &'static str,
    pub providers: Vec<String>,
}

/// The matrix (computed at the first call, then shared).
pub fn coverage() -> &'static Coverage {
    static MATRIX: OnceLock<Coverage> = OnceLock::new();
    MATRIX.get_or_init(|| build(DECLARATIONS))
}

fn fields(
    decls: &[Declaration],
    pick: impl Fn(&Declaration) -> &'static [&'static str],
) -> Vec<Field> {
    let mut by_code: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
    for d in decls {
        for code in pick(d) {
            by_code.entry(code).or_default().insert(d.provider.as_str());
        }
    }
    by_code
        .into_iter()
        .map(|(code, ps)| Field {
            code,
            providers: ps.into_iter().map(str::to_string).collect(),
        })
        .collect()
}

/// The matrix of `decls`: categories in display order (empty ones left out), everything else
/// sorted by code, providers sorted. A declared code that is not a series type is skipped.
pub fn build(decls: &[Declaration]) -> Coverage {
    let mut series: BTreeMap<SeriesType, BTreeSet<&'static str>> = BTreeMap::new();
    for d in decls {
        for code in d.series {
            if let Some(t) = SeriesType::from_code(code) {
                series.entry(t).or_default().insert(d.provider.as_str());
            }
        }
    }
    let timeseries = SeriesCategory::ALL
        .into_iter()
        .filter_map(|cat| {
            let mut metrics: Vec<Metric> = series
                .iter()
                .filter(|(t, _)| t.category() == cat)
                .map(|(t, ps)| Metric {
                    code: t.code(),
                    unit: t.unit(),
                    providers: ps.iter().map(|p| p.to_string()).collect(),
                })
                .collect();
            metrics.sort_by_key(|m| m.code);
            (!metrics.is_empty()).then(|| Category {
                name: cat.label(),
                metrics,
            })
        })
        .collect();
    let providers: BTreeSet<&str> = decls.iter().map(|d| d.provider.as_str()).collect();
    Coverage {
        providers: providers.into_iter().map(str::to_string).collect(),
        timeseries,
        workout_fields: fields(decls, |d| d.workout_fields),
        sleep_fields: fields(decls, |d| d.sleep_fields),
        menstrual_cycle_fields: fields(decls, |d| d.menstrual_cycle_fields),
        health_scores: fields(decls, |d| d.health_scores),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::provider::Provider;

    #[test]
    fn codes_are_grouped_and_sorted() {
        let decls = [
            Declaration {
                provider: Provider::Oura,
                series: &["steps", "heart_rate", "not_a_series"],
                workout_fields: &["distance"],
                sleep_fields: &[],
                menstrual_cycle_fields: &[],
                health_scores: &["sleep"],
            },
            Declaration {
                provider: Provider::Apple,
                series: &["heart_rate", "resting_heart_rate"],
                workout_fields: &["distance", "energy_burned"],
                sleep_fields: &[],
                menstrual_cycle_fields: &[],
                health_scores: &[],
            },
        ];
        let c = build(&decls);
        assert_eq!(c.providers, ["apple", "oura"]);
        let names: Vec<_> = c.timeseries.iter().map(|t| t.name).collect();
        assert_eq!(names, ["Heart & Cardiovascular", "Activity - Basic"]);
        let heart = &c.timeseries[0].metrics;
        assert_eq!(heart[0].code, "heart_rate");
        assert_eq!(heart[0].unit, "bpm");
        assert_eq!(heart[0].providers, ["apple", "oura"]);
        assert_eq!(heart[1].code, "resting_heart_rate");
        assert_eq!(c.workout_fields[0].providers, ["apple", "oura"]);
        assert_eq!(c.workout_fields[1].code, "energy_burned");
        assert!(c.sleep_fields.is_empty());
        assert_eq!(c.health_scores[0].providers, ["oura"]);
    }
}
