//! Pre-aggregated time series: for every (user, series, data source, UTC day) one item
//! `TA#<series>#<YYYY-MM-DD>#<ds uuid>` holding, per 15-minute slot that has samples, what a
//! bucket needs (count, exact sums, maximum, the first sample's zone offset), so that
//! `15min` and `1hour` buckets cost one small item per day instead of every sample under them.
//!
//! The aggregates of an hour are a pure function of that hour's chunk and carry the chunk's
//! version: of two writers the newer chunk version wins whatever order their aggregate writes
//! land in, and a writer that finds its (unchanged) chunk newer than the aggregate rewrites it.
//!
//! Encoding (LEB128 varints, signed ones zig-zag): `version=2 | n_zones | zones… | n_hours |
//! (hour, quarter_mask)* | (chunk_version, (n, n_daily, sum, daily_sum, max, zone)*)*` with
//! sums in thousandths (i128) and `zone` an index into the zone table (0 = none). The hour and
//! mask table up front lets a read count the buckets of a day without decoding its slots
//! ([`count_buckets`]). Version 1 (written before the table existed) had each hour's mask
//! inline: `(hour, chunk_version, quarter_mask, slots*)*`; it is still read.

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
        out.push(2);
        put_uvar(&mut out, zones.len() as u64);
        for z in &zones {
            put_uvar(&mut out, z.len() as u64);
            out.extend_from_slice(z.as_bytes());
        }
        put_uvar(&mut out, self.hours.len() as u64);
        let mask = |h: &HourAgg| {
            h.slots
                .iter()
                .enumerate()
                .fold(0u8, |m, (i, s)| m | (u8::from(s.is_some()) << i))
        };
        for (hour, h) in &self.hours {
            out.push(*hour);
            out.push(mask(h));
        }
        for h in self.hours.values() {
            put_uvar(&mut out, h.version);
            for s in h.slots.iter().flatten() {
                put_slot(&mut out, s, &zones);
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

/// The zone table and hour count at the start of an encoded day.
struct Header<'a> {
    version: u8,
    zones: Vec<&'a str>,
    n_hours: usize,
}

fn header<'a>(c: &mut Cursor<'a>, raw: &'a [u8]) -> Result<Header<'a>, ChunkError> {
    let version = c.byte()?;
    if version != 1 && version != 2 {
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
    Ok(Header {
        version,
        zones,
        n_hours: n_hours as usize,
    })
}

/// Checks one `(hour, mask)` entry against the hour before it.
fn check_hour(hour: u8, mask: u8, last: Option<u8>) -> Result<(), ChunkError> {
    if hour > 23 || last.is_some_and(|l| l >= hour) {
        return Err(ChunkError::new("bad hour"));
    }
    if mask > 0x0f {
        return Err(ChunkError::new("bad slot mask"));
    }
    Ok(())
}

/// Calls `f(hour, chunk_version, quarter, slot)` for every slot of an encoded day, in time
/// order, without allocating (the bucketed reads aggregate on the fly).
pub fn visit<'a>(
    raw: &'a [u8],
    mut f: impl FnMut(u8, u64, u8, SlotView<'a>),
) -> Result<(), ChunkError> {
    let mut c = Cursor(raw);
    let h = header(&mut c, raw)?;
    // Version 2: the (hour, mask) table first.
    let mut table = [(0u8, 0u8); 24];
    if h.version == 2 {
        let mut last = None;
        for e in table.iter_mut().take(h.n_hours) {
            *e = (c.byte()?, c.byte()?);
            check_hour(e.0, e.1, last)?;
            last = Some(e.0);
        }
    }
    let mut last = None;
    for &(t_hour, t_mask) in table.iter().take(h.n_hours) {
        let (hour, version, mask) = if h.version == 2 {
            let (hour, mask) = (t_hour, t_mask);
            (hour, c.uvar()?, mask)
        } else {
            let hour = c.byte()?;
            let version = c.uvar()?;
            let mask = c.byte()?;
            check_hour(hour, mask, last)?;
            last = Some(hour);
            (hour, version, mask)
        };
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
                i => Some(
                    *h.zones
                        .get(i - 1)
                        .ok_or(ChunkError::new("bad zone index"))?,
                ),
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
    if !c.0.is_empty() {
        return Err(ChunkError::new("trailing bytes"));
    }
    Ok(())
}

/// How many buckets `width_us` wide (a whole number of slots dividing a day) the slots of an
/// encoded day starting at `day` (µs) fill within `[from, to)`: from the hour table alone for
/// version 2 (no slot decoded), by visiting the slots for version 1.
pub fn count_buckets(
    raw: &[u8],
    day: i64,
    (from, to): (i64, i64),
    width_us: i64,
) -> Result<usize, ChunkError> {
    let mut n = 0;
    let mut last_bucket: Option<i64> = None;
    let mut slot = |t: i64| {
        if t >= from && t < to {
            let b = t.div_euclid(width_us);
            if last_bucket != Some(b) {
                last_bucket = Some(b);
                n += 1;
            }
        }
    };
    let mut c = Cursor(raw);
    let h = header(&mut c, raw)?;
    if h.version == 1 {
        visit(raw, |hour, _, q, _| {
            slot(day + i64::from(hour) * HOUR_US + i64::from(q) * SLOT_US);
        })?;
        return Ok(n);
    }
    let mut last = None;
    for _ in 0..h.n_hours {
        let (hour, mask) = (c.byte()?, c.byte()?);
        check_hour(hour, mask, last)?;
        last = Some(hour);
        for q in 0..4u8 {
            if mask & (1 << q) != 0 {
                slot(day + i64::from(hour) * HOUR_US + i64::from(q) * SLOT_US);
            }
        }
    }
    Ok(n)
}

/// One slot's fields, its zone as an index into `zones` (0 = none).
fn put_slot(out: &mut Vec<u8>, s: &Slot, zones: &[&str]) {
    put_uvar(out, s.n);
    put_uvar(out, s.n_daily);
    put_ivar(out, s.sum);
    put_ivar(out, s.daily_sum);
    put_ivar(out, i128::from(s.max));
    let zi = s
        .zone
        .as_deref()
        .and_then(|z| zones.iter().position(|x| *x == z))
        .map_or(0, |i| i + 1);
    put_uvar(out, zi as u64);
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

/// A zig-zag LEB128 `i128` (the sums). Sums of a slot almost always fit 63 bits, so the
/// first nine bytes are gathered in a `u64` and only longer ones continue in `u128`.
fn ivar(c: &mut Cursor<'_>) -> Result<i128, ChunkError> {
    let zigzag = |u: u128| ((u >> 1) as i128) ^ -((u & 1) as i128);
    let mut short = 0u64;
    for shift in (0..63).step_by(7) {
        let b = c.byte()?;
        short |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(zigzag(u128::from(short)));
        }
    }
    let mut u = u128::from(short);
    for shift in (63..128).step_by(7) {
        let b = c.byte()?;
        u |= u128::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(zigzag(u));
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
    fn sums_of_every_width_round_trip() {
        let mut values: Vec<i128> = vec![0, 1, -1, i128::MAX, i128::MIN];
        for bits in 1..127 {
            let v = 1i128 << bits;
            values.extend([v - 1, v, v + 1, -v - 1, -v, -v + 1]);
        }
        for v in values {
            let mut out = Vec::new();
            put_ivar(&mut out, v);
            let mut c = Cursor(&out);
            assert_eq!(ivar(&mut c), Ok(v), "{v}");
            assert!(c.0.is_empty(), "{v}: every byte read");
        }
    }

    /// The version-1 layout (each hour's mask inline), as the previous release wrote it.
    fn encode_v1(day: &DayAgg) -> Vec<u8> {
        let v2 = day.encode();
        let decoded = DayAgg::decode(&v2).expect("decodes");
        assert_eq!(&decoded, day);
        let mut zones: Vec<&str> = Vec::new();
        for s in day.hours.values().flat_map(|h| h.slots.iter().flatten()) {
            if let Some(z) = s.zone.as_deref()
                && !zones.contains(&z)
            {
                zones.push(z);
            }
        }
        let mut out = vec![1];
        put_uvar(&mut out, zones.len() as u64);
        for z in &zones {
            put_uvar(&mut out, z.len() as u64);
            out.extend_from_slice(z.as_bytes());
        }
        put_uvar(&mut out, day.hours.len() as u64);
        for (hour, h) in &day.hours {
            out.push(*hour);
            put_uvar(&mut out, h.version);
            out.push(
                h.slots
                    .iter()
                    .enumerate()
                    .fold(0, |m, (i, s)| m | (u8::from(s.is_some()) << i)),
            );
            for s in h.slots.iter().flatten() {
                put_slot(&mut out, s, &zones);
            }
        }
        out
    }

    fn sample_day() -> DayAgg {
        let mut day = DayAgg::default();
        for (hour, minutes, zone) in [
            (0u8, &[0i64, 20, 59][..], Some("+01:00")),
            (5, &[44], None),
            (6, &[15, 16, 31], Some("-03:30")),
            (23, &[0, 15, 30, 45], Some("+01:00")),
        ] {
            let pts: Vec<Point> = minutes
                .iter()
                .map(|m| {
                    p(
                        HOUR0 + i64::from(hour) * HOUR_US + m * 60_000_000,
                        m * 1_000,
                        zone,
                        None,
                    )
                })
                .collect();
            day.apply(hour, hour_agg(&pts, u64::from(hour) + 1));
        }
        day
    }

    #[test]
    fn days_written_by_the_previous_release_still_read() {
        let day = sample_day();
        let v1 = encode_v1(&day);
        assert_ne!(v1, day.encode());
        assert_eq!(DayAgg::decode(&v1), Ok(day.clone()));
        for n in 0..v1.len() {
            assert!(DayAgg::decode(&v1[..n]).is_err(), "prefix {n}");
        }
        let all = (HOUR0, HOUR0 + DAY_US);
        for raw in [v1.clone(), day.encode()] {
            assert_eq!(count_buckets(&raw, HOUR0, all, HOUR_US), Ok(4));
            assert_eq!(count_buckets(&raw, HOUR0, all, SLOT_US), Ok(10));
        }
    }

    #[test]
    fn buckets_are_counted_from_the_hour_table_within_the_range() {
        let day = sample_day();
        let (v1, v2) = (encode_v1(&day), day.encode());
        // Every range on the slot grid, both widths: the table's count equals the slots
        // visited and grouped into buckets.
        for a in 0..=96i64 {
            for b in a..=96 {
                let range = (HOUR0 + a * SLOT_US, HOUR0 + b * SLOT_US);
                for width in [SLOT_US, HOUR_US] {
                    let mut seen = std::collections::BTreeSet::new();
                    visit(&v2, |hour, _, q, _| {
                        let t = HOUR0 + i64::from(hour) * HOUR_US + i64::from(q) * SLOT_US;
                        if t >= range.0 && t < range.1 {
                            seen.insert(t.div_euclid(width));
                        }
                    })
                    .expect("visits");
                    assert_eq!(count_buckets(&v2, HOUR0, range, width), Ok(seen.len()));
                    assert_eq!(count_buckets(&v1, HOUR0, range, width), Ok(seen.len()));
                }
            }
        }
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
        for junk in [
            &b"\x02"[..],
            b"\x03\x00\x00",
            b"\x01\x00\x19",
            b"\x01\x00\x01\x18\x01\x01",
            b"\x02\x00\x01\x18\x01",
            b"\x02\x00\x02\x05\x01\x04\x01",
            b"\x02\x00\x01\x05\x10",
            b"\x02\x00\x00\x00",
        ] {
            assert!(DayAgg::decode(junk).is_err());
        }
    }
}
