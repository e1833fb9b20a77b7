//! Pre-aggregated time series: for every (user, series, data source, UTC day) one item
//! `TA#<series>#<YYYY-MM-DD>#<ds uuid>` holding, per 15-minute slot that has samples, what a
//! bucket needs (count, exact sums, maximum, the first sample's zone offset), so that
//! `15min` and `1hour` buckets cost one small item per day instead of every sample under them.
//!
//! The aggregates of an hour are a pure function of that hour's chunk and carry the chunk's
//! version: of two writers the newer chunk version wins whatever order their aggregate writes
//! land in, and a writer that finds its (unchanged) chunk newer than the aggregate rewrites it.
//!
//! Encoding (LEB128 varints, signed ones zig-zag): `version=1 | n_zones | zones… | n_hours |
//! (hour, chunk_version, quarter_mask, (n, n_daily, sum, daily_sum, max, zone)*)*` with sums
//! in thousandths (i128) and `zone` an index into the zone table (0 = none).

use std::collections::BTreeMap;

use super::chunk::{ChunkError, Cursor, Point, put_uvar};

/// Width of one slot, µs.
pub const SLOT_US: i64 = 900_000_000;
pub const HOUR_US: i64 = 3_600_000_000;
pub const DAY_US: i64 = 86_400_000_000;

/// The aggregates of one 15-minute slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub n: u64,
    /// Samples flagged `is_daily_total = true`.
    pub n_daily: u64,
    /// Sum of every value, thousandths.
    pub sum: i128,
    /// Sum of the flagged values, thousandths.
    pub daily_sum: i128,
    pub max: i64,
    /// The zone offset of the slot's first sample.
    pub zone: Option<String>,
}

/// A slot as read, borrowing its zone from the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotView<'a> {
    pub n: u64,
    pub n_daily: u64,
    pub sum: i128,
    pub daily_sum: i128,
    pub max: i64,
    pub zone: Option<&'a str>,
}

/// The slots of one hour and the version of the chunk they were computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourAgg {
    pub version: u64,
    pub slots: [Option<Slot>; 4],
}

/// The aggregates of the samples of one hour chunk (time-ordered, all in one UTC hour).
pub fn hour_agg(points: &[Point], version: u64) -> HourAgg {
    let mut slots: [Option<Slot>; 4] = Default::default();
    for p in points {
        let q = (p.t.rem_euclid(HOUR_US) / SLOT_US) as usize;
        let s = slots[q].get_or_insert_with(|| Slot {
            n: 0,
            n_daily: 0,
            sum: 0,
            daily_sum: 0,
            max: i64::MIN,
            zone: p.zone_offset.clone(),
        });
        s.n += 1;
        s.sum += i128::from(p.milli);
        s.max = s.max.max(p.milli);
        if p.is_daily_total == Some(true) {
            s.n_daily += 1;
            s.daily_sum += i128::from(p.milli);
        }
    }
    HourAgg { version, slots }
}

/// The aggregates of one UTC day of one series of one source, by hour of the day (0–23).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayAgg {
    pub hours: BTreeMap<u8, HourAgg>,
}

impl DayAgg {
    /// Takes `agg` for `hour` unless what is stored comes from the same or a newer chunk
    /// version. Returns whether anything changed.
    pub fn apply(&mut self, hour: u8, agg: HourAgg) -> bool {
        match self.hours.get(&hour) {
            Some(have) if have.version >= agg.version => false,
            _ => {
                self.hours.insert(hour, agg);
                true
            }
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut zones: Vec<&str> = Vec::new();
        for h in self.hours.values() {
            for s in h.slots.iter().flatten() {
                if let Some(z) = s.zone.as_deref()
                    && !zones.contains(&z)
                {
                    zones.push(z);
                }
            }
        }
        let mut out = Vec::with_capacity(8 + self.hours.len() * 48);
        out.push(1);
        put_uvar(&mut out, zones.len() as u64);
        for z in &zones {
            put_uvar(&mut out, z.len() as u64);
            out.extend_from_slice(z.as_bytes());
        }
        put_uvar(&mut out, self.hours.len() as u64);
        for (hour, h) in &self.hours {
            out.push(*hour);
            put_uvar(&mut out, h.version);
            let mask = h
                .slots
                .iter()
                .enumerate()
                .fold(0u8, |m, (i, s)| m | (u8::from(s.is_some()) << i));
            out.push(mask);
            for s in h.slots.iter().flatten() {
                put_uvar(&mut out, s.n);
                put_uvar(&mut out, s.n_daily);
                put_ivar(&mut out, s.sum);
                put_ivar(&mut out, s.daily_sum);
                put_ivar(&mut out, i128::from(s.max));
                let zi = s
                    .zone
                    .as_deref()
                    .and_then(|z| zones.iter().position(|x| *x == z))
                    .map_or(0, |i| i + 1);
                put_uvar(&mut out, zi as u64);
            }
        }
        out
    }

    pub fn decode(raw: &[u8]) -> Result<Self, ChunkError> {
        let mut day = DayAgg::default();
        let mut cur: Option<(u8, HourAgg)> = None;
        visit(raw, |hour, version, quarter, s| {
            if cur.as_ref().is_some_and(|(h, _)| *h != hour)
                && let Some((h, agg)) = cur.take()
            {
                day.hours.insert(h, agg);
            }
            let entry = cur.get_or_insert_with(|| {
                (
                    hour,
                    HourAgg {
                        version,
                        slots: Default::default(),
                    },
                )
            });
            entry.1.slots[quarter as usize] = Some(Slot {
                n: s.n,
                n_daily: s.n_daily,
                sum: s.sum,
                daily_sum: s.daily_sum,
                max: s.max,
                zone: s.zone.map(str::to_string),
            });
        })?;
        if let Some((h, agg)) = cur {
            day.hours.insert(h, agg);
        }
        Ok(day)
    }
}

/// Calls `f(hour, chunk_version, quarter, slot)` for every slot of an encoded day, in time
/// order, without allocating (the bucketed reads aggregate on the fly).
pub fn visit<'a>(
    raw: &'a [u8],
    mut f: impl FnMut(u8, u64, u8, SlotView<'a>),
) -> Result<(), ChunkError> {
    let mut c = Cursor(raw);
    if c.byte()? != 1 {
        return Err(ChunkError::new("unknown aggregate version"));
    }
    let n_zones = c.uvar()? as usize;
    if n_zones > raw.len() {
        return Err(ChunkError::new("bad zone count"));
    }
    let mut zones: Vec<&'a str> = Vec::with_capacity(n_zones);
    for _ in 0..n_zones {
        let len = c.uvar()? as usize;
        let b = c.bytes(len)?;
        zones.push(std::str::from_utf8(b).map_err(|_| ChunkError::new("bad zone"))?);
    }
    let n_hours = c.uvar()?;
    if n_hours > 24 {
        return Err(ChunkError::new("bad hour count"));
    }
    let mut last: Option<u8> = None;
    for _ in 0..n_hours {
        let hour = c.byte()?;
        if hour > 23 || last.is_some_and(|l| l >= hour) {
            return Err(ChunkError::new("bad hour"));
        }
        last = Some(hour);
        let version = c.uvar()?;
        let mask = c.byte()?;
        if mask > 0x0f {
            return Err(ChunkError::new("bad slot mask"));
        }
        for q in 0..4u8 {
            if mask & (1 << q) == 0 {
                continue;
            }
            let n = c.uvar()?;
            let n_daily = c.uvar()?;
            let sum = ivar(&mut c)?;
            let daily_sum = ivar(&mut c)?;
            let max = i64::try_from(ivar(&mut c)?).map_err(|_| ChunkError::new("bad maximum"))?;
            let zone = match c.uvar()? as usize {
                0 => None,
                i => Some(*zones.get(i - 1).ok_or(ChunkError::new("bad zone index"))?),
            };
            if n == 0 || n_daily > n {
                return Err(ChunkError::new("bad slot count"));
            }
            f(
                hour,
                version,
                q,
                SlotView {
                    n,
                    n_daily,
                    sum,
                    daily_sum,
                    max,
                    zone,
                },
            );
        }
    }
    Ok(())
}

fn put_ivar(out: &mut Vec<u8>, v: i128) {
    let mut u = ((v << 1) ^ (v >> 127)) as u128;
    loop {
        let byte = (u & 0x7f) as u8;
        u >>= 7;
        if u == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A zig-zag LEB128 `i128` (the sums).
fn ivar(c: &mut Cursor<'_>) -> Result<i128, ChunkError> {
    let mut u = 0u128;
    for shift in (0..128).step_by(7) {
        let b = c.byte()?;
        u |= u128::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(((u >> 1) as i128) ^ -((u & 1) as i128));
        }
    }
    Err(ChunkError::new("varint too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR0: i64 = 1_740_787_200_000_000; // 2025-03-01T00:00:00Z

    fn p(t: i64, milli: i64, zone: Option<&str>, daily: Option<bool>) -> Point {
        Point {
            t,
            milli,
            zone_offset: zone.map(str::to_string),
            is_daily_total: daily,
        }
    }

    #[test]
    fn an_hour_is_summed_per_quarter_exactly() {
        let pts = vec![
            p(HOUR0, 1_500, Some("+01:00"), None),
            p(HOUR0 + 60_000_000, -2_000, None, Some(true)),
            p(
                HOUR0 + 2_700_000_000,
                9_999_999_999_999,
                Some("-05:00"),
                None,
            ),
        ];
        let h = hour_agg(&pts, 3);
        assert_eq!(h.version, 3);
        let q0 = h.slots[0].as_ref().expect("first quarter");
        assert_eq!(
            (q0.n, q0.n_daily, q0.sum, q0.daily_sum, q0.max),
            (2, 1, -500, -2_000, 1_500)
        );
        assert_eq!(q0.zone.as_deref(), Some("+01:00"));
        assert!(h.slots[1].is_none() && h.slots[2].is_none());
        assert_eq!(h.slots[3].as_ref().map(|s| s.sum), Some(9_999_999_999_999));
    }

    #[test]
    fn a_day_round_trips_and_the_newer_chunk_version_wins() {
        let mut day = DayAgg::default();
        let a = hour_agg(&[p(HOUR0 + 5, 10, Some("+01:00"), None)], 2);
        let b = hour_agg(&[p(HOUR0 + 5, 20, Some("+02:00"), Some(false))], 1);
        assert!(day.apply(0, a.clone()));
        assert!(
            !day.apply(0, b),
            "an older chunk version never replaces a newer one"
        );
        assert!(!day.apply(0, a.clone()));
        assert!(day.apply(
            23,
            hour_agg(
                &[p(HOUR0 + 23 * HOUR_US + 1, i64::MIN / 2, None, Some(true))],
                7
            )
        ));
        let raw = day.encode();
        assert_eq!(DayAgg::decode(&raw), Ok(day.clone()));
        assert_eq!(day.hours[&0], a);
        assert_eq!(
            DayAgg::decode(&DayAgg::default().encode()),
            Ok(DayAgg::default())
        );
    }

    #[test]
    fn corrupt_aggregates_are_errors_not_panics() {
        let mut day = DayAgg::default();
        day.apply(
            4,
            hour_agg(&[p(HOUR0 + 4 * HOUR_US, 10, Some("Z"), None)], 1),
        );
        let raw = day.encode();
        for n in 0..raw.len() {
            assert!(DayAgg::decode(&raw[..n]).is_err(), "prefix {n}");
        }
        for junk in [&b"\x02"[..], b"\x01\x00\x19", b"\x01\x00\x01\x18\x01\x01"] {
            assert!(DayAgg::decode(junk).is_err());
        }
    }
}
