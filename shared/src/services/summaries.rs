//! Summary use cases: the best source per day by the configured priorities, and the daily
//! activity assembled from the roll-ups and the day's workouts.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};
use uuid::Uuid;

use super::shift;
use crate::app::AppState;
use crate::domain::summary::{
    ActivityValues, DeviceType, PriorityKey, assemble_activity, infer_device_type, select_best,
};
use crate::domain::time::{local_date, start_of_utc_day};
use crate::error::ApiResult;
use crate::repo::health::{DataSource, EventDetails};
use crate::repo::priorities::Priorities;

/// Ranking key (flavour A): provider priority, device-type priority inferred from the model,
/// device model.
pub fn priority_key(pr: &Priorities, ds: Option<&DataSource>) -> PriorityKey {
    let model = ds.and_then(|d| d.device_model.clone()).unwrap_or_default();
    let device = if model.is_empty() {
        99
    } else {
        pr.device(infer_device_type(Some(&model)))
    };
    let provider = ds.map_or(99, |d| pr.provider(&d.provider));
    PriorityKey {
        provider_priority: provider,
        device_priority: device,
        device_model: model,
    }
}

/// Ranking key from the stored device type (flavour B), inferred when absent.
pub fn stored_priority_key(pr: &Priorities, ds: Option<&DataSource>) -> PriorityKey {
    let stored = ds
        .and_then(|d| d.device_type.as_deref())
        .and_then(DeviceType::parse);
    let mut key = priority_key(pr, ds);
    if let Some(d) = stored {
        key.device_priority = pr.device(d);
    }
    key
}

/// One local day's activity from its best source.
#[derive(Debug, Clone)]
pub struct ActivityDay {
    pub date: NaiveDate,
    pub data_source_id: Uuid,
    pub values: ActivityValues,
}

/// The user's daily activity in `[from, to]`, in date order, with the user's data sources.
pub async fn activity(
    state: &AppState,
    user: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<(Vec<ActivityDay>, HashMap<Uuid, DataSource>)> {
    let sources = state.db.data_source_map(user).await?;
    let prio = state.db.priorities().await?;
    let rollups = state.db.rollups(user, from, to).await?;
    let mut by_date: BTreeMap<NaiveDate, Vec<_>> = BTreeMap::new();
    for r in rollups {
        by_date.entry(r.date).or_default().push(r);
    }
    let winners: Vec<_> = by_date
        .into_values()
        .filter_map(|c| select_best(c, |r| priority_key(&prio, sources.get(&r.data_source_id))))
        .collect();
    // Workout elevation per (local end date, source).
    let mut elevation: HashMap<(NaiveDate, Uuid), f64> = HashMap::new();
    if !winners.is_empty() {
        let workouts = state
            .db
            .events(
                user,
                "workout",
                Some(shift(start_of_utc_day(from), -Duration::days(2))?),
                Some(shift(start_of_utc_day(to), Duration::days(1))?),
            )
            .await?;
        for w in workouts {
            if let Some(EventDetails::Workout(d)) = &w.details
                && let Some(g) = d.total_elevation_gain
            {
                *elevation
                    .entry((
                        local_date(w.end, w.zone_offset.as_deref()),
                        w.data_source_id,
                    ))
                    .or_default() += g;
            }
        }
    }
    let days = winners
        .iter()
        .map(|r| ActivityDay {
            date: r.date,
            data_source_id: r.data_source_id,
            values: assemble_activity(
                &r.day,
                elevation.get(&(r.date, r.data_source_id)).copied(),
                r.step_minutes,
                r.intensity,
            ),
        })
        .collect();
    Ok((days, sources))
}
