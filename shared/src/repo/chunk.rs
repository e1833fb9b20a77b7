//! Time-series chunks: the samples of one (user, series type, data source, UTC hour) in one
//! item, in a compact delta encoding. At 1 Hz a heart-rate hour is ~3,600 samples in ~7 KB,
//! where one item per sample would cost 3,600 writes.
//!
//! Encoding (all integers LEB128 varints, signed ones zig-zag):
//! `version=1 | n_variants | variants… | time_shift | value_shift | count | base_time_us |
//!  (dt, dv[, variant])*` where a variant is a (zone offset, is_daily_total) pair, `dt` is the
//! time delta in units of 10^time_shift µs and `dv` the delta of the value in units of
//! 10^value_shift thousandths. Times are strictly increasing (one sample per instant).

/// One stored sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Microseconds since the epoch.
    pub t: i64,
    /// Value in thousandths (numeric(10,3) exactly).
    pub milli: i64,
    pub zone_offset: Option<String>,
    pub is_daily_total: Option<bool>,
}

impl Point {
    pub fn value(&self) -> f64 {
        self.milli as f64 / 1000.0
    }
}

/// A decoding failure (corrupt item).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt time-series chunk: {0}")]
pub struct ChunkError(&'static str);

impl ChunkError {
    pub const fn new(what: &'static str) -> Self {
        Self(what)
    }
}

/// Merges `incoming` into `existing` (sorted by strictly increasing `t`, as decoded): one point
/// per instant, the incoming one winning (last write wins, as the reference's upsert; among
/// incoming points of one instant the last). Returns the merged points (sorted), how many
/// instants were new, and whether anything differs from `existing`. One sort of the incoming
/// points and one linear pass: no per-point allocation.
pub fn merge(existing: Vec<Point>, mut incoming: Vec<Point>) -> (Vec<Point>, usize, bool) {
    // Stable: equal instants keep their order, so the last of them is the one kept.
    incoming.sort_by_key(|p| p.t);
    let mut merged = Vec::with_capacity(existing.len() + incoming.len());
    let (mut added, mut changed) = (0, false);
    let mut old = existing.into_iter().peekable();
    let mut new = incoming.into_iter().peekable();
    while let Some(p) = new.next() {
        if new.peek().is_some_and(|n| n.t == p.t) {
            continue;
        }
        while let Some(o) = old.next_if(|o| o.t < p.t) {
            merged.push(o);
        }
        match old.next_if(|o| o.t == p.t) {
            Some(o) => changed |= o != p,
            None => {
                added += 1;
                changed = true;
            }
        }
        merged.push(p);
    }
    merged.extend(old);
    (merged, added, changed)
}

pub(super) fn put_uvar(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_ivar(out: &mut Vec<u8>, v: i64) {
    put_uvar(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn largest_shift(values: impl Iterator<Item = i64>, max: u32) -> u32 {
    let mut shift = max;
    for v in values {
        while shift > 0 && v % 10i64.pow(shift) != 0 {
            shift -= 1;
        }
        if shift == 0 {
            break;
        }
    }
    shift
}

/// Encodes points sorted by strictly increasing `t`.
pub fn encode(points: &[Point]) -> Vec<u8> {
    let mut variants: Vec<(Option<&str>, Option<bool>)> = Vec::new();
    let mut idx = Vec::with_capacity(points.len());
    for p in points {
        let v = (p.zone_offset.as_deref(), p.is_daily_total);
        let i = match variants.iter().position(|x| *x == v) {
            Some(i) => i,
            None => {
                variants.push(v);
                variants.len() - 1
            }
        };
        idx.push(i);
    }
    let base = points.first().map_or(0, |p| p.t);
    let time_shift = largest_shift(points.iter().map(|p| p.t - base), 6);
    let value_shift = largest_shift(points.iter().map(|p| p.milli), 3);
    let mut out = Vec::with_capacity(16 + points.len() * 3);
    out.push(1);
    put_uvar(&mut out, variants.len() as u64);
    for (zone, daily) in &variants {
        let z = zone.unwrap_or("");
        put_uvar(
            &mut out,
            if zone.is_some() {
                z.len() as u64 + 1
            } else {
                0
            },
        );
        out.extend_from_slice(z.as_bytes());
        out.push(match daily {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        });
    }
    out.push(time_shift as u8);
    out.push(value_shift as u8);
    put_uvar(&mut out, points.len() as u64);
    put_ivar(&mut out, base);
    let (tu, vu) = (10i64.pow(time_shift), 10i64.pow(value_shift));
    let (mut prev_t, mut prev_v) = (base, 0i64);
    for (p, i) in points.iter().zip(idx) {
        put_uvar(&mut out, ((p.t - prev_t) / tu) as u64);
        put_ivar(&mut out, (p.milli - prev_v) / vu);
        if variants.len() > 1 {
            put_uvar(&mut out, i as u64);
        }
        prev_t = p.t;
        prev_v = p.milli;
    }
    out
}

/// A reader of the varint encodings (shared with `series_agg`).
pub(super) struct Cursor<'a>(pub(super) &'a [u8]);

impl<'a> Cursor<'a> {
    pub(super) fn byte(&mut self) -> Result<u8, ChunkError> {
        let (&b, rest) = self.0.split_first().ok_or(ChunkError("truncated"))?;
        self.0 = rest;
        Ok(b)
    }
    pub(super) fn uvar(&mut self) -> Result<u64, ChunkError> {
        if let Some((&b, rest)) = self.0.split_first()
            && b < 0x80
        {
            self.0 = rest;
            return Ok(u64::from(b));
        }
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ChunkError("varint too long"))
    }
    fn ivar(&mut self) -> Result<i64, ChunkError> {
        let u = self.uvar()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8], ChunkError> {
        if self.0.len() < n {
            return Err(ChunkError("truncated"));
        }
        let all: &'a [u8] = self.0;
        let (a, b) = all.split_at(n);
        self.0 = b;
        Ok(a)
    }
}

/// The number of samples in a chunk, read from its header only.
pub fn count(raw: &[u8]) -> Result<usize, ChunkError> {
    let mut c = Cursor(raw);
    if c.byte()? != 1 {
        return Err(ChunkError("unknown version"));
    }
    let n_variants = c.uvar()? as usize;
    for _ in 0..n_variants.min(raw.len()) {
        let len = c.uvar()? as usize;
        c.bytes(len.saturating_sub(1))?;
        c.byte()?;
    }
    c.bytes(2)?;
    Ok(c.uvar()? as usize)
}

/// Decodes a chunk.
pub fn decode(raw: &[u8]) -> Result<Vec<Point>, ChunkError> {
    let mut out = Vec::with_capacity(count(raw)?);
    visit(raw, |t, milli, zone, daily| {
        out.push(Point {
            t,
            milli,
            zone_offset: zone.map(str::to_string),
            is_daily_total: daily,
        });
    })?;
    Ok(out)
}

/// Calls `f(t, milli, zone_offset, is_daily_total)` for every sample of a chunk, in time
/// order, without building a [`Point`] per sample (the bucketed reads aggregate on the fly).
/// Checks what [`decode`] checks; on an error, the samples before it have been visited.
pub fn visit(
    raw: &[u8],
    mut f: impl FnMut(i64, i64, Option<&str>, Option<bool>),
) -> Result<(), ChunkError> {
    visit_indexed(raw, |t, milli, i, variants| {
        let (zone, daily) = variants[i];
        f(t, milli, zone, daily)
    })
}

/// A chunk decoded compactly: `(t, milli, variant index)` per sample and the chunk's
/// (zone offset, is_daily_total) variants, so that a reader builds a [`Point`] (and its zone
/// string) only for the samples it returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Compact {
    pub variants: Vec<(Option<String>, Option<bool>)>,
    pub samples: Vec<(i64, i64, u32)>,
}

impl Compact {
    /// The sample at `i` as a [`Point`].
    pub fn point(&self, i: usize) -> Option<Point> {
        let (t, milli, v) = *self.samples.get(i)?;
        let (zone, daily) = self.variants.get(v as usize)?;
        Some(Point {
            t,
            milli,
            zone_offset: zone.clone(),
            is_daily_total: *daily,
        })
    }
}

/// Decodes a chunk into its compact form, keeping only the samples with `from <= t < to`.
pub fn decode_compact(raw: &[u8], from: i64, to: i64) -> Result<Compact, ChunkError> {
    let mut out = Compact::default();
    let mut samples = Vec::with_capacity(count(raw)?);
    visit_indexed(raw, |t, milli, i, variants| {
        if out.variants.len() < variants.len() {
            out.variants = variants
                .iter()
                .map(|(z, d)| (z.map(str::to_string), *d))
                .collect();
        }
        if t >= from && t < to {
            samples.push((t, milli, i as u32));
        }
    })?;
    out.samples = samples;
    Ok(out)
}

/// The walk under [`visit`] and [`decode_compact`]: `f(t, milli, variant index, variants)`
/// per sample, the index checked against the chunk's variant table.
fn visit_indexed<'a>(
    raw: &'a [u8],
    mut f: impl FnMut(i64, i64, usize, &[(Option<&'a str>, Option<bool>)]),
) -> Result<(), ChunkError> {
    let mut c = Cursor(raw);
    if c.byte()? != 1 {
        return Err(ChunkError("unknown version"));
    }
    let n_variants = c.uvar()? as usize;
    if n_variants > raw.len() {
        return Err(ChunkError("bad variant count"));
    }
    let mut variants: Vec<(Option<&str>, Option<bool>)> = Vec::with_capacity(n_variants);
    for _ in 0..n_variants {
        let len = c.uvar()? as usize;
        let zone = if len == 0 {
            None
        } else {
            let b = c.bytes(len - 1)?;
            Some(std::str::from_utf8(b).map_err(|_| ChunkError("bad zone"))?)
        };
        let daily = match c.byte()? {
            0 => None,
            1 => Some(false),
            2 => Some(true),
            _ => return Err(ChunkError("bad flag")),
        };
        variants.push((zone, daily));
    }
    let (time_shift, value_shift) = (u32::from(c.byte()?), u32::from(c.byte()?));
    if time_shift > 6 || value_shift > 3 {
        return Err(ChunkError("bad shift"));
    }
    let (tu, vu) = (10i64.pow(time_shift), 10i64.pow(value_shift));
    let count = c.uvar()? as usize;
    if count > raw.len() {
        return Err(ChunkError("bad count"));
    }
    let mut t = c.ivar()?;
    let mut v = 0i64;
    for _ in 0..count {
        t = t
            .checked_add((c.uvar()? as i64).wrapping_mul(tu))
            .ok_or(ChunkError("time overflow"))?;
        v = v.wrapping_add(c.ivar()?.wrapping_mul(vu));
        let i = if n_variants > 1 {
            c.uvar()? as usize
        } else {
            0
        };
        if i >= n_variants {
            return Err(ChunkError("bad variant"));
        }
        f(t, v, i, &variants);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: i64, milli: i64) -> Point {
        Point {
            t,
            milli,
            zone_offset: Some("+01:00".into()),
            is_daily_total: None,
        }
    }

    #[test]
    fn a_heart_rate_hour_round_trips_in_about_two_bytes_per_sample() {
        let base = 1_735_689_600_000_000;
        let points: Vec<Point> = (0..3600)
            .map(|i| p(base + i * 1_000_000, (60 + (i % 40)) * 1000))
            .collect();
        let raw = encode(&points);
        assert!(raw.len() < 3600 * 3, "{} bytes", raw.len());
        assert_eq!(count(&raw), Ok(3600));
        assert_eq!(decode(&raw), Ok(points));
    }

    #[test]
    fn mixed_variants_fractions_and_negative_values_round_trip() {
        let points = vec![
            Point {
                t: 5,
                milli: -1234,
                zone_offset: None,
                is_daily_total: Some(true),
            },
            Point {
                t: 7,
                milli: 1,
                zone_offset: Some("-05:30".into()),
                is_daily_total: Some(false),
            },
            Point {
                t: 1_000_007,
                milli: 9_999_999_999,
                zone_offset: None,
                is_daily_total: Some(true),
            },
        ];
        assert_eq!(decode(&encode(&points)), Ok(points));
        assert_eq!(decode(&encode(&[])), Ok(vec![]));
    }

    #[test]
    fn merging_keeps_one_point_per_instant_and_the_newest_value() {
        let (merged, added, changed) = merge(vec![p(1, 10), p(3, 30)], vec![p(3, 31), p(2, 20)]);
        assert_eq!(added, 1);
        assert!(changed);
        assert_eq!(merged, vec![p(1, 10), p(2, 20), p(3, 31)]);
        // The same points again change nothing; of two incoming points at one instant the
        // later wins.
        let (again, added, changed) = merge(merged.clone(), vec![p(2, 20), p(3, 31)]);
        assert_eq!((added, changed), (0, false));
        assert_eq!(again, merged);
        let (m, added, changed) = merge(vec![p(5, 1)], vec![p(5, 2), p(4, 9), p(5, 3)]);
        assert_eq!((added, changed), (1, true));
        assert_eq!(m, vec![p(4, 9), p(5, 3)]);
        let (m, _, changed) = merge(vec![p(5, 1)], vec![p(5, 2), p(5, 1)]);
        assert!(!changed);
        assert_eq!(m, vec![p(5, 1)]);
    }

    /// The linear merge agrees with a map-based model (insert existing, then incoming in
    /// order) on pseudo-random inputs with many collisions.
    #[test]
    fn merging_agrees_with_the_map_model() {
        use std::collections::BTreeMap;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for _ in 0..500 {
            let n_old = next(20) as usize;
            let mut old: BTreeMap<i64, Point> = BTreeMap::new();
            for _ in 0..n_old {
                let t = next(30) as i64;
                old.insert(t, p(t, next(3) as i64));
            }
            let existing: Vec<Point> = old.values().cloned().collect();
            let incoming: Vec<Point> = (0..next(20))
                .map(|_| p(next(30) as i64, next(3) as i64))
                .collect();
            let mut model = old.clone();
            for q in &incoming {
                model.insert(q.t, q.clone());
            }
            let want: Vec<Point> = model.into_values().collect();
            let (got, added, changed) = merge(existing.clone(), incoming);
            assert_eq!(got, want);
            assert_eq!(added, want.len() - existing.len());
            assert_eq!(changed, want != existing);
        }
    }

    #[test]
    fn the_compact_decoding_holds_the_same_points_in_range() {
        let points = vec![
            p(5, 1),
            Point {
                t: 7,
                milli: -3,
                zone_offset: None,
                is_daily_total: Some(true),
            },
            p(9, 4),
            p(12, 8),
        ];
        let raw = encode(&points);
        let c = decode_compact(&raw, 6, 12).expect("decodes");
        let got: Vec<Point> = (0..c.samples.len()).filter_map(|i| c.point(i)).collect();
        assert_eq!(got, points[1..3].to_vec());
        assert_eq!(c.point(2), None);
        let all = decode_compact(&raw, i64::MIN, i64::MAX).expect("decodes");
        assert_eq!(all.variants.len(), 2);
        assert_eq!(
            (0..4).filter_map(|i| all.point(i)).collect::<Vec<_>>(),
            points
        );
        for n in 0..raw.len() {
            assert!(decode_compact(&raw[..n], 0, 100).is_err());
        }
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let raw = encode(&[p(1, 10), p(2, 20)]);
        for n in 0..raw.len() {
            assert!(decode(&raw[..n]).is_err());
        }
        for junk in [
            &b"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..],
            b"\x02",
            b"\x01\x00\x09\x09",
        ] {
            assert!(decode(junk).is_err());
        }
    }
}
