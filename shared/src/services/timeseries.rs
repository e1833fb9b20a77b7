//! The timeseries query engine: a page of raw samples or resolution buckets of one user, in
//! `(timestamp, stream)` order across every (series, data source) stream, by a k-way merge
//! that decodes stored chunks lazily. The route maps the page to the wire type and cursors.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::app::AppState;
use crate::domain::series::{AggregationMethod, Resolution, SeriesType, mean_milli};
use crate::error::{ApiError, ApiResult};
use crate::repo::chunk::{Compact, Point};
use crate::repo::series_agg::{self, DAY_US, SLOT_US};

/// What to read.
#[derive(Debug, Clone)]
pub struct Query {
    pub user: Uuid,
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
    /// The series to read; empty means every series the user has.
    pub types: Vec<SeriesType>,
    pub resolution: Resolution,
    pub cursor: Option<Cursor>,
    pub limit: usize,
}

/// A position between two samples: after (or, `backward`, before) the sample at `t` (µs) of
/// the stream `stream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub t: i64,
    pub stream: Uuid,
    pub backward: bool,
}

/// One sample of a page.
#[derive(Debug, Clone)]
pub struct Sample {
    pub point: Point,
    pub series: SeriesType,
    pub data_source: Uuid,
    /// The stream's id, the cursor's tie-breaker.
    pub stream: Uuid,
}

/// A page, in time order.
#[derive(Debug, Clone)]
pub struct Page {
    pub samples: Vec<Sample>,
    /// Samples in the whole range.
    pub total: usize,
    /// Whether there are more samples past the page (in the cursor's direction).
    pub more: bool,
}

/// Reads one page.
pub async fn query(state: &AppState, q: Query) -> ApiResult<Page> {
    let Query {
        user,
        from: start,
        to: end_at,
        mut types,
        resolution,
        cursor,
        limit,
    } = q;
    if types.is_empty() {
        types = state
            .db
            .series_index(user)
            .await?
            .iter()
            .filter_map(|c| SeriesType::from_code(c))
            .collect();
    }
    let (from, to) = (start.timestamp_micros(), end_at.timestamp_micros());
    let mut streams: Vec<Stream> = Vec::new();
    if from < to {
        let aligned = match resolution.seconds() {
            Some(w) if from_slots(w) => aligned_interior(from, to, w * 1_000_000),
            _ => None,
        };
        let aligned = match aligned {
            Some(a) if aggregates_usable(state, user).await? => Some(a),
            _ => None,
        };
        for series in types {
            match (resolution.seconds(), aligned) {
                (None, _) => {
                    for (ds, chunks) in chunks_by_source(state, user, series, from, to).await? {
                        let id = stream_id(ds, series);
                        streams.push(Stream::lazy(id, series, ds, chunks, from, to));
                    }
                }
                (Some(width), None) => {
                    for (ds, chunks) in chunks_by_source(state, user, series, from, to).await? {
                        let mut c = Collect::new(series);
                        bucket_chunks(&chunks, from, to, width, &mut c)?;
                        streams.push(Stream::eager(stream_id(ds, series), series, ds, c.out));
                    }
                }
                (Some(width), Some((a_from, a_to))) => {
                    streams.extend(
                        bucket_from_aggregates(
                            state,
                            user,
                            series,
                            (from, to),
                            (a_from, a_to),
                            width,
                        )
                        .await?,
                    );
                }
            }
        }
    }
    let mut total = 0;
    for s in &mut streams {
        total += s.count()?;
    }
    let mut rows = match cursor {
        Some(Cursor {
            t,
            stream,
            backward: true,
        }) => merge_backward(&mut streams, t, stream, limit + 1)?,
        Some(Cursor { t, stream, .. }) => {
            merge_forward(&mut streams, Some((t, stream)), limit + 1)?
        }
        None => merge_forward(&mut streams, None, limit + 1)?,
    };
    let more = rows.len() > limit;
    rows.truncate(limit);
    if cursor.is_some_and(|c| c.backward) {
        rows.reverse();
    }
    let samples = rows
        .into_iter()
        .map(|(si, point)| {
            let s = &streams[si];
            Sample {
                point,
                series: s.series,
                data_source: s.ds,
                stream: s.id,
            }
        })
        .collect();
    Ok(Page {
        samples,
        total,
        more,
    })
}

/// The samples of one (series, data source) within `[from, to)`, in time order, decoded one
/// unit at a time and only when a page needs it: a page over a day of 1 Hz data decodes one or
/// two hours, and the total count comes from chunk headers. Decoded chunks are compact (no
/// zone string per sample); a [`Point`] is built only for the samples a page returns.
/// Bucketed streams from day aggregates hold one unit per day, built into buckets only when
/// the page reaches it and counted from the day's hour table otherwise.
struct Stream {
    id: Uuid,
    series: SeriesType,
    ds: Uuid,
    /// `(first instant it may hold, instant it holds nothing from, unit)`, in time order.
    units: Vec<(i64, i64, Unit)>,
    decoded: Vec<Option<Compact>>,
    from: i64,
    to: i64,
}

/// What a stream unit decodes from.
enum Unit {
    /// An hour chunk of raw samples.
    Chunk(Vec<u8>),
    /// A day aggregate starting at `day` (µs), giving buckets `width_us` wide.
    Day {
        day: i64,
        width_us: i64,
        raw: Vec<u8>,
    },
    /// Already decoded (buckets built from samples).
    Built,
}

const HOUR_US: i64 = 3_600_000_000;

impl Stream {
    fn lazy(
        id: Uuid,
        series: SeriesType,
        ds: Uuid,
        chunks: Vec<(i64, Vec<u8>)>,
        from: i64,
        to: i64,
    ) -> Self {
        let n = chunks.len();
        let units = chunks
            .into_iter()
            .map(|(h, d)| (h, h + HOUR_US, Unit::Chunk(d)))
            .collect();
        Self {
            id,
            series,
            ds,
            units,
            decoded: (0..n).map(|_| None).collect(),
            from,
            to,
        }
    }

    fn eager(id: Uuid, series: SeriesType, ds: Uuid, buckets: Compact) -> Self {
        Self::bucketed(
            id,
            series,
            ds,
            vec![(i64::MIN, i64::MAX, Unit::Built)],
            vec![Some(buckets)],
        )
    }

    /// A bucketed stream of built units and day units (`units` and `decoded` alike long).
    fn bucketed(
        id: Uuid,
        series: SeriesType,
        ds: Uuid,
        units: Vec<(i64, i64, Unit)>,
        decoded: Vec<Option<Compact>>,
    ) -> Self {
        Self {
            id,
            series,
            ds,
            units,
            decoded,
            from: i64::MIN,
            to: i64::MAX,
        }
    }

    fn chunk(&mut self, ci: usize) -> ApiResult<&Compact> {
        if self.decoded[ci].is_none() {
            let (lo, hi, unit) = &self.units[ci];
            let c = match unit {
                Unit::Chunk(raw) => crate::repo::chunk::decode_compact(raw, self.from, self.to)
                    .map_err(ApiError::internal)?,
                Unit::Day { day, width_us, raw } => {
                    let mut c = Collect::new(self.series);
                    bucket_day(*day, raw, (*lo, *hi), *width_us, &mut c)?;
                    c.out
                }
                Unit::Built => Compact::default(),
            };
            self.decoded[ci] = Some(c);
        }
        self.decoded[ci]
            .as_ref()
            .ok_or_else(|| ApiError::internal("chunk not decoded"))
    }

    fn len(&mut self, ci: usize) -> ApiResult<usize> {
        Ok(self.chunk(ci)?.samples.len())
    }

    fn count(&mut self) -> ApiResult<usize> {
        let mut n = 0;
        for ci in 0..self.units.len() {
            if self.decoded[ci].is_none() {
                match &self.units[ci] {
                    (lo, hi, Unit::Chunk(raw)) if *lo >= self.from && *hi <= self.to => {
                        n += crate::repo::chunk::count(raw).map_err(ApiError::internal)?;
                        continue;
                    }
                    (lo, hi, Unit::Day { day, width_us, raw }) => {
                        n += series_agg::count_buckets(raw, *day, (*lo, *hi), *width_us)
                            .map_err(ApiError::internal)?;
                        continue;
                    }
                    _ => {}
                }
            }
            n += self.len(ci)?;
        }
        Ok(n)
    }

    /// The first position whose (t, id) is after `after` (or the very first).
    fn first_after(&mut self, after: Option<(i64, Uuid)>) -> ApiResult<Option<(usize, usize)>> {
        let id = self.id;
        for ci in 0..self.units.len() {
            if let Some((t, _)) = after
                && self.units[ci].1 <= t
            {
                continue;
            }
            let pts = &self.chunk(ci)?.samples;
            let idx = match after {
                None => 0,
                Some((t, cid)) if id > cid => pts.partition_point(|p| p.0 < t),
                Some((t, _)) => pts.partition_point(|p| p.0 <= t),
            };
            if idx < pts.len() {
                return Ok(Some((ci, idx)));
            }
        }
        Ok(None)
    }

    /// The last position whose (t, id) is before `before`.
    fn last_before(&mut self, t: i64, cid: Uuid) -> ApiResult<Option<(usize, usize)>> {
        let id = self.id;
        for ci in (0..self.units.len()).rev() {
            if self.units[ci].0 > t {
                continue;
            }
            let pts = &self.chunk(ci)?.samples;
            let idx = if id < cid {
                pts.partition_point(|p| p.0 <= t)
            } else {
                pts.partition_point(|p| p.0 < t)
            };
            if idx > 0 {
                return Ok(Some((ci, idx - 1)));
            }
        }
        Ok(None)
    }

    fn next(&mut self, (ci, pi): (usize, usize)) -> ApiResult<Option<(usize, usize)>> {
        if pi + 1 < self.len(ci)? {
            return Ok(Some((ci, pi + 1)));
        }
        for cj in ci + 1..self.units.len() {
            if self.len(cj)? > 0 {
                return Ok(Some((cj, 0)));
            }
        }
        Ok(None)
    }

    fn prev(&mut self, (ci, pi): (usize, usize)) -> ApiResult<Option<(usize, usize)>> {
        if pi > 0 {
            return Ok(Some((ci, pi - 1)));
        }
        for cj in (0..ci).rev() {
            let n = self.len(cj)?;
            if n > 0 {
                return Ok(Some((cj, n - 1)));
            }
        }
        Ok(None)
    }

    /// The time of the sample at a position.
    fn t_at(&mut self, (ci, pi): (usize, usize)) -> ApiResult<i64> {
        self.chunk(ci)?
            .samples
            .get(pi)
            .map(|s| s.0)
            .ok_or_else(|| ApiError::internal("stream position out of range"))
    }

    fn at(&mut self, (ci, pi): (usize, usize)) -> ApiResult<Point> {
        self.chunk(ci)?
            .point(pi)
            .ok_or_else(|| ApiError::internal("stream position out of range"))
    }
}

/// The stored chunks of one series over `[from, to)` (µs), per source, in time order.
async fn chunks_by_source(
    state: &AppState,
    user: Uuid,
    series: SeriesType,
    from: i64,
    to: i64,
) -> ApiResult<Vec<(Uuid, Vec<(i64, Vec<u8>)>)>> {
    let at = |us: i64| {
        DateTime::from_timestamp_micros(us)
            .ok_or_else(|| ApiError::bad_request("time range out of bounds"))
    };
    let mut by_ds: HashMap<Uuid, Vec<(i64, Vec<u8>)>> = HashMap::new();
    for c in state
        .db
        .raw_chunks(user, series, at(from)?, at(to - 1)?)
        .await?
    {
        by_ds
            .entry(c.data_source_id)
            .or_default()
            .push((c.hour.timestamp_micros(), c.data));
    }
    let mut out: Vec<_> = by_ds.into_iter().collect();
    for (_, chunks) in &mut out {
        chunks.sort_by_key(|c| c.0);
    }
    Ok(out)
}

/// Whether buckets `width` seconds wide are whole numbers of aggregate slots within a day.
fn from_slots(width: i64) -> bool {
    let w = width * 1_000_000;
    w % SLOT_US == 0 && DAY_US % w == 0
}

/// The buckets wholly inside `[from, to)`: `[ceil(from), floor(to))` on the bucket grid, when
/// not empty.
fn aligned_interior(from: i64, to: i64, width_us: i64) -> Option<(i64, i64)> {
    let a_from = from.div_euclid(width_us) * width_us
        + if from.rem_euclid(width_us) == 0 {
            0
        } else {
            width_us
        };
    let a_to = to.div_euclid(width_us) * width_us;
    (a_from < a_to).then_some((a_from, a_to))
}

/// Whether the user's day aggregates reflect all their chunks. When they do not yet (data
/// stored before they existed), asks once per process for them to be built and answers
/// `false`: the read visits the samples meanwhile.
async fn aggregates_usable(state: &AppState, user: Uuid) -> ApiResult<bool> {
    if state.db.aggregates_ready(user).await? {
        return Ok(true);
    }
    if state.db.first_aggregates_request(user)
        && let Err(e) = state
            .queue
            .enqueue(vec![crate::app::Job::SeriesAggregates { user_id: user }])
            .await
    {
        tracing::warn!(%user, error = %e, "could not queue the series aggregates");
    }
    Ok(false)
}

/// The bucket streams of one series over `[from, to)`, one per source: the buckets wholly
/// inside `[a_from, a_to)` from the day aggregates (one item per day, whatever the samples
/// under it; a day is built into buckets only when a page reaches it and counted from its hour
/// table otherwise), the partial ones at either end from the samples.
async fn bucket_from_aggregates(
    state: &AppState,
    user: Uuid,
    series: SeriesType,
    (from, to): (i64, i64),
    (a_from, a_to): (i64, i64),
    width: i64,
) -> ApiResult<Vec<Stream>> {
    let mut by_ds: HashMap<Uuid, Parts> = HashMap::new();
    if from < a_from {
        for (ds, chunks) in chunks_by_source(state, user, series, from, a_from).await? {
            by_ds.entry(ds).or_default().0 = chunks;
        }
    }
    if a_to < to {
        for (ds, chunks) in chunks_by_source(state, user, series, a_to, to).await? {
            by_ds.entry(ds).or_default().2 = chunks;
        }
    }
    let first_day = a_from.div_euclid(DAY_US) * DAY_US;
    let last_day = (a_to - 1).div_euclid(DAY_US) * DAY_US;
    for a in state
        .db
        .raw_aggregates(user, series, first_day, last_day)
        .await?
    {
        by_ds
            .entry(a.data_source_id)
            .or_default()
            .1
            .push((a.day, a.data));
    }
    let mut out = Vec::with_capacity(by_ds.len());
    for (ds, parts) in by_ds {
        out.push(aggregate_stream(
            series,
            ds,
            parts,
            (from, to),
            (a_from, a_to),
            width,
        )?);
    }
    Ok(out)
}

/// Per source: the chunks before the aligned part, its day items, the chunks after.
type Parts = (
    Vec<(i64, Vec<u8>)>,
    Vec<(i64, Vec<u8>)>,
    Vec<(i64, Vec<u8>)>,
);

/// One source's bucket stream over `[from, to)` (see [`bucket_from_aggregates`]).
fn aggregate_stream(
    series: SeriesType,
    ds: Uuid,
    (left, mut days, right): Parts,
    (from, to): (i64, i64),
    (a_from, a_to): (i64, i64),
    width: i64,
) -> ApiResult<Stream> {
    let width_us = width * 1_000_000;
    days.sort_by_key(|d| d.0);
    let mut units = Vec::with_capacity(days.len() + 2);
    let mut decoded = Vec::with_capacity(days.len() + 2);
    if !left.is_empty() {
        let mut c = Collect::new(series);
        bucket_chunks(&left, from, a_from, width, &mut c)?;
        // A partial bucket starts on the grid, before `from`.
        units.push((i64::MIN, a_from, Unit::Built));
        decoded.push(Some(c.out));
    }
    for (day, raw) in days {
        let (lo, hi) = (day.max(a_from), (day + DAY_US).min(a_to));
        if lo < hi {
            units.push((lo, hi, Unit::Day { day, width_us, raw }));
            decoded.push(None);
        }
    }
    if !right.is_empty() {
        let mut c = Collect::new(series);
        bucket_chunks(&right, a_to, to, width, &mut c)?;
        units.push((a_to, i64::MAX, Unit::Built));
        decoded.push(Some(c.out));
    }
    Ok(Stream::bucketed(
        stream_id(ds, series),
        series,
        ds,
        units,
        decoded,
    ))
}

/// The buckets of `[from, to)` (µs, on the bucket grid) from the encoded aggregate of the day
/// starting at `day`.
fn bucket_day(
    day: i64,
    raw: &[u8],
    (from, to): (i64, i64),
    width_us: i64,
    out: &mut Collect,
) -> ApiResult<()> {
    series_agg::visit(raw, |hour, _, quarter, slot| {
        let t = day + i64::from(hour) * series_agg::HOUR_US + i64::from(quarter) * SLOT_US;
        if t < from || t >= to {
            return;
        }
        out.bucket(t.div_euclid(width_us) * width_us, slot.zone)
            .add_slot(&slot);
    })
    .map_err(ApiError::internal)?;
    out.flush();
    Ok(())
}

/// A stable id per (data source, series): samples are unique per (source, series, instant), so
/// `(timestamp, id)` orders them totally.
fn stream_id(ds: Uuid, series: SeriesType) -> Uuid {
    Uuid::new_v5(&ds, series.code().as_bytes())
}

/// The buckets of one stream over `[from, to)` (µs), `width` seconds wide and aligned on the
/// UTC epoch, with the series' canonical aggregation (`domain::series::bucket`'s rules: the
/// prefer-daily sum, max or mean; the first sample's zone offset). The chunks are in time
/// order and so are their samples, so a bucket's samples are contiguous: one pass, one
/// accumulator, no per-sample allocation.
fn bucket_chunks(
    chunks: &[(i64, Vec<u8>)],
    from: i64,
    to: i64,
    width: i64,
    out: &mut Collect,
) -> ApiResult<()> {
    for (_, raw) in chunks {
        crate::repo::chunk::visit(raw, |t, milli, zone, daily| {
            if t < from || t >= to {
                return;
            }
            let start = t.div_euclid(1_000_000).div_euclid(width) * width * 1_000_000;
            out.bucket(start, zone).add(milli, daily);
        })
        .map_err(ApiError::internal)?;
    }
    out.flush();
    Ok(())
}

/// Buckets collected in time order into a compact stream: zone offsets interned, so a bucket
/// costs no allocation (30 days of `15min` are 2,880 buckets, a page shows 100).
struct Collect {
    method: AggregationMethod,
    default_daily: Option<bool>,
    zones: Vec<Option<String>>,
    /// The bucket being aggregated.
    acc: Option<BucketAcc>,
    out: Compact,
}

impl Collect {
    /// Buckets of `series`, by its canonical aggregation.
    fn new(series: SeriesType) -> Self {
        Self {
            method: series.aggregation(),
            default_daily: series.is_daily_total(),
            zones: Vec::new(),
            acc: None,
            out: Compact::default(),
        }
    }

    /// The bucket starting at `start` (its first value's zone `zone`), finishing the one
    /// before it: values arrive in time order, so a bucket's values are contiguous.
    fn bucket(&mut self, start: i64, zone: Option<&str>) -> &mut BucketAcc {
        if self.acc.as_ref().is_none_or(|a| a.start != start) {
            self.flush();
            let zone = self.zone(zone);
            self.acc = Some(BucketAcc::new(start, zone));
        }
        self.acc.get_or_insert_with(|| BucketAcc::new(start, 0))
    }

    /// Finishes the bucket being aggregated.
    fn flush(&mut self) {
        if let Some(done) = self.acc.take() {
            self.push(done);
        }
    }

    fn zone(&mut self, zone: Option<&str>) -> u32 {
        match self.zones.iter().position(|z| z.as_deref() == zone) {
            Some(i) => i as u32,
            None => {
                self.zones.push(zone.map(str::to_string));
                (self.zones.len() - 1) as u32
            }
        }
    }

    fn push(&mut self, acc: BucketAcc) {
        let (t, milli, zone, flag) = acc.finish(self.method, self.default_daily);
        let zone = self.zones.get(zone as usize).and_then(|z| z.as_deref());
        let v = match self
            .out
            .variants
            .iter()
            .position(|(z, d)| z.as_deref() == zone && *d == flag)
        {
            Some(v) => v,
            None => {
                self.out.variants.push((zone.map(str::to_string), flag));
                self.out.variants.len() - 1
            }
        };
        self.out.samples.push((t, milli, v as u32));
    }
}

/// One bucket being aggregated, exactly (thousandths): count, sums and maximum, from samples
/// or from slot aggregates alike.
struct BucketAcc {
    start: i64,
    /// The first sample's zone offset, as a [`Collect`] index.
    zone: u32,
    n: u64,
    sum: i128,
    max: i64,
    /// Prefer-daily: the flagged daily totals.
    n_daily: u64,
    daily_sum: i128,
}

impl BucketAcc {
    fn new(start: i64, zone: u32) -> Self {
        Self {
            start,
            zone,
            n: 0,
            sum: 0,
            max: i64::MIN,
            n_daily: 0,
            daily_sum: 0,
        }
    }

    fn add(&mut self, milli: i64, flag: Option<bool>) {
        self.n += 1;
        self.sum += i128::from(milli);
        self.max = self.max.max(milli);
        if flag == Some(true) {
            self.n_daily += 1;
            self.daily_sum += i128::from(milli);
        }
    }

    fn add_slot(&mut self, s: &series_agg::SlotView<'_>) {
        self.n += s.n;
        self.sum += s.sum;
        self.max = self.max.max(s.max);
        self.n_daily += s.n_daily;
        self.daily_sum += s.daily_sum;
    }

    /// `(start, milli, zone index, is_daily_total)` of the bucket.
    fn finish(
        self,
        method: AggregationMethod,
        default_daily: Option<bool>,
    ) -> (i64, i64, u32, Option<bool>) {
        let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        let (milli, used_daily) = match method {
            AggregationMethod::Sum if self.n_daily > 0 => (clamp(self.daily_sum), true),
            AggregationMethod::Sum => (clamp(self.sum - self.daily_sum), false),
            AggregationMethod::Max => (self.max, false),
            AggregationMethod::Avg => (mean_milli(self.sum, self.n), false),
        };
        let flag = if used_daily {
            Some(true)
        } else {
            default_daily
        };
        (self.start, milli, self.zone, flag)
    }
}

#[derive(PartialEq, Eq)]
struct Head {
    t: i64,
    id: Uuid,
    stream: usize,
    pos: (usize, usize),
}

impl Ord for Head {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.t, self.id).cmp(&(o.t, o.id))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The first `n` samples in (t, id) order strictly after `after`.
fn merge_forward(
    streams: &mut [Stream],
    after: Option<(i64, Uuid)>,
    n: usize,
) -> ApiResult<Vec<(usize, Point)>> {
    let mut heap = BinaryHeap::new();
    for (i, s) in streams.iter_mut().enumerate() {
        if let Some(pos) = s.first_after(after)? {
            let t = s.t_at(pos)?;
            heap.push(std::cmp::Reverse(Head {
                t,
                id: s.id,
                stream: i,
                pos,
            }));
        }
    }
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let Some(std::cmp::Reverse(h)) = heap.pop() else {
            break;
        };
        let s = &mut streams[h.stream];
        out.push((h.stream, s.at(h.pos)?));
        if let Some(pos) = s.next(h.pos)? {
            let t = s.t_at(pos)?;
            heap.push(std::cmp::Reverse(Head {
                t,
                id: h.id,
                stream: h.stream,
                pos,
            }));
        }
    }
    Ok(out)
}

/// The last `n` samples strictly before (t, id), newest first.
fn merge_backward(
    streams: &mut [Stream],
    t: i64,
    id: Uuid,
    n: usize,
) -> ApiResult<Vec<(usize, Point)>> {
    let mut heap = BinaryHeap::new();
    for (i, s) in streams.iter_mut().enumerate() {
        if let Some(pos) = s.last_before(t, id)? {
            let pt = s.t_at(pos)?;
            heap.push(Head {
                t: pt,
                id: s.id,
                stream: i,
                pos,
            });
        }
    }
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let Some(h) = heap.pop() else { break };
        let s = &mut streams[h.stream];
        out.push((h.stream, s.at(h.pos)?));
        if let Some(pos) = s.prev(h.pos)? {
            let pt = s.t_at(pos)?;
            heap.push(Head {
                t: pt,
                id: h.id,
                stream: h.stream,
                pos,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::series::{SeriesPoint, bucket};
    use crate::repo::chunk::{Point, encode};
    use proptest::prelude::*;

    /// What the bucketed read returned before the one-pass aggregator: every sample decoded,
    /// then `domain::series::bucket`.
    fn reference(series: SeriesType, points: &[Point], res: Resolution) -> Vec<Point> {
        let ds = Uuid::nil();
        let input: Vec<SeriesPoint<Uuid>> = points
            .iter()
            .map(|p| SeriesPoint {
                source: ds,
                series,
                recorded_at: DateTime::from_timestamp_micros(p.t).unwrap_or_default(),
                value: p.value(),
                zone_offset: p.zone_offset.clone(),
                is_daily_total: p.is_daily_total,
            })
            .collect();
        bucket(&input, res)
            .into_iter()
            .map(|b| Point {
                t: b.bucket_start.timestamp_micros(),
                milli: (b.value * 1000.0).round() as i64,
                zone_offset: b.zone_offset,
                is_daily_total: b.is_daily_total,
            })
            .collect()
    }

    const HOUR0: i64 = 1_740_787_200_000_000; // 2025-03-01T00:00:00Z

    /// Points after `t0` at the given gaps (seconds, plus a sub-second shift), with the
    /// flags choosing the zone offset and the daily-total flag.
    fn generated(t0: i64, gaps: &[i64], values: &[i64], flags: &[u8]) -> Vec<Point> {
        let mut t = t0;
        gaps.iter()
            .enumerate()
            .map(|(i, g)| {
                t += g * 1_000_000 + (i as i64 % 3) * 250_000;
                Point {
                    t,
                    milli: values[i],
                    zone_offset: match flags[i] {
                        0 => None,
                        1 => Some("+01:00".into()),
                        _ => Some("-05:00".into()),
                    },
                    is_daily_total: match flags[i] {
                        1 => Some(false),
                        2 => Some(true),
                        _ => None,
                    },
                }
            })
            .collect()
    }

    /// The buckets one or more bucketing calls collect, as points.
    fn buckets_of(series: SeriesType, f: impl FnOnce(&mut Collect) -> ApiResult<()>) -> Vec<Point> {
        let mut c = Collect::new(series);
        f(&mut c).expect("decodes");
        (0..c.out.samples.len())
            .filter_map(|i| c.out.point(i))
            .collect()
    }

    fn chunks_of(points: &[Point]) -> Vec<(i64, Vec<u8>)> {
        let mut by_hour: std::collections::BTreeMap<i64, Vec<Point>> = Default::default();
        for p in points {
            by_hour
                .entry(p.t.div_euclid(HOUR_US) * HOUR_US)
                .or_default()
                .push(p.clone());
        }
        by_hour
            .into_iter()
            .map(|(h, ps)| (h, encode(&ps)))
            .collect()
    }

    proptest! {
        #[test]
        fn one_pass_buckets_equal_the_domain_rule(
            gaps in proptest::collection::vec(1i64..400, 1..600),
            values in proptest::collection::vec(-5_000i64..250_000, 600),
            flags in proptest::collection::vec(0u8..4, 600),
            series_pick in 0usize..4,
            res_pick in 0usize..4,
            window in (0i64..7_200, 0i64..7_200),
        ) {
            let series = [SeriesType::HeartRate, SeriesType::Steps, SeriesType::SixMinuteWalkTestDistance, SeriesType::Weight][series_pick];
            let res = [Resolution::OneMinute, Resolution::FiveMinutes, Resolution::FifteenMinutes, Resolution::OneHour][res_pick];
            let points = generated(HOUR0, &gaps, &values, &flags);
            let from = HOUR0 + window.0.min(window.1) * 1_000_000;
            let to = HOUR0 + window.0.max(window.1) * 1_000_000 + 1;
            let inside: Vec<Point> = points.iter().filter(|p| p.t >= from && p.t < to).cloned().collect();
            let got = buckets_of(series, |c| bucket_chunks(&chunks_of(&points), from, to, res.seconds().expect("bucketed"), c));
            prop_assert_eq!(got, reference(series, &inside, res));
        }

        /// `15min` and `1hour` from the day aggregates (whole buckets) and the samples (the
        /// partial buckets at either end) equal the buckets of every sample.
        #[test]
        fn buckets_from_day_aggregates_equal_buckets_of_the_samples(
            gaps in proptest::collection::vec(1i64..1_800, 1..400),
            values in proptest::collection::vec(-5_000i64..250_000, 400),
            flags in proptest::collection::vec(0u8..4, 400),
            series_pick in 0usize..4,
            hourly in any::<bool>(),
            window in (0i64..200_000, 0i64..200_000),
        ) {
            let series = [SeriesType::HeartRate, SeriesType::Steps, SeriesType::SixMinuteWalkTestDistance, SeriesType::Weight][series_pick];
            let width = if hourly { 3600 } else { 900 };
            // Starting before midnight, so that the samples span up to three UTC days.
            let points = generated(HOUR0 - 5 * HOUR_US, &gaps, &values, &flags);
            let chunks = chunks_of(&points);
            let mut days: std::collections::BTreeMap<i64, series_agg::DayAgg> = Default::default();
            for (hour, raw) in &chunks {
                let day = hour.div_euclid(DAY_US) * DAY_US;
                let pts = crate::repo::chunk::decode(raw).expect("decodes");
                days.entry(day).or_default().apply(((hour - day) / HOUR_US) as u8, series_agg::hour_agg(&pts, 1));
            }
            let days: Vec<(i64, Vec<u8>)> = days.into_iter().map(|(d, a)| (d, a.encode())).collect();
            let base = HOUR0 - 5 * HOUR_US;
            let from = base + window.0.min(window.1) * 1_000_000;
            let to = base + window.0.max(window.1) * 1_000_000 + 1;
            let want = buckets_of(series, |c| bucket_chunks(&chunks, from, to, width, c));
            let Some((a_from, a_to)) = aligned_interior(from, to, width * 1_000_000) else {
                return Ok(());
            };
            let within = |lo: i64, hi: i64| -> Vec<(i64, Vec<u8>)> {
                chunks.iter().filter(|(h, _)| *h + HOUR_US > lo && *h < hi).cloned().collect()
            };
            let parts = (
                if from < a_from { within(from, a_from) } else { Vec::new() },
                days.iter()
                    .filter(|(d, _)| *d + DAY_US > a_from && *d < a_to)
                    .cloned()
                    .collect(),
                if a_to < to { within(a_to, to) } else { Vec::new() },
            );
            let ds = Uuid::from_u128(7);
            let stream = || {
                aggregate_stream(series, ds, parts.clone(), (from, to), (a_from, a_to), width)
                    .expect("stream")
            };
            // The count comes from the hour tables, before anything is built.
            prop_assert_eq!(stream().count().expect("count"), want.len());
            // Paging forward in pages of `page`, then backward from the end, through the
            // lazily built days.
            let page = 1 + (gaps.len() % 37);
            let mut s = stream();
            let mut got: Vec<Point> = Vec::new();
            let mut after = None;
            loop {
                let rows = merge_forward(std::slice::from_mut(&mut s), after, page).expect("page");
                let Some(last) = rows.last() else { break };
                after = Some((last.1.t, s.id));
                got.extend(rows.into_iter().map(|r| r.1));
            }
            prop_assert_eq!(&got, &want);
            let mut s = stream();
            let mut back: Vec<Point> = Vec::new();
            let mut before = (i64::MAX, s.id);
            loop {
                let rows = merge_backward(std::slice::from_mut(&mut s), before.0, before.1, page).expect("page");
                let Some(last) = rows.last() else { break };
                before = (last.1.t, s.id);
                back.extend(rows.into_iter().map(|r| r.1));
            }
            back.reverse();
            prop_assert_eq!(&back, &want);
        }
    }

    #[test]
    fn the_aligned_interior_holds_only_whole_buckets() {
        let h = HOUR_US;
        assert_eq!(aligned_interior(0, 3 * h, h), Some((0, 3 * h)));
        assert_eq!(aligned_interior(1, 3 * h - 1, h), Some((h, 2 * h)));
        assert_eq!(aligned_interior(1, 2 * h - 1, h), None);
        assert_eq!(aligned_interior(-h - 1, 0, h), Some((-h, 0)));
        assert!(from_slots(900) && from_slots(3600));
        assert!(!from_slots(60) && !from_slots(300));
    }

    #[test]
    fn means_round_half_away_from_zero_exactly() {
        assert_eq!(mean_milli(3, 2), 2);
        assert_eq!(mean_milli(-3, 2), -2);
        assert_eq!(mean_milli(1, 3), 0);
        assert_eq!(mean_milli(2, 3), 1);
        assert_eq!(mean_milli(0, 0), 0);
        // 0.1 + 0.2 in thousandths: no floating-point noise.
        assert_eq!(mean_milli(300, 1), 300);
    }
}
