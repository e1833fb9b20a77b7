//! The Apple Health export (`export.xml` of the Health app's "Export All Health Data") as a
//! stream of items, read with a pull parser in constant memory whatever the file size.
//!
//! [`ExportReader`] reads any [`BufRead`] and yields [`ExportItem`]s one at a time:
//! * `Record` elements of a quantity type the SDK path knows (its identifier table,
//!   [`map_record_type`]) → samples, the value converted from the record's HealthKit unit
//!   into the series' canonical unit ([`to_canonical`]);
//! * `Record`s of `HKCategoryTypeIdentifierSleepAnalysis` → SDK sleep segments (the sleep job
//!   builds the sessions, as for SDK pushes);
//! * `Workout` elements with their `WorkoutStatistics`, metadata and attribute totals → the
//!   SDK's workout builder ([`build_workout_from`]), so details and statistic samples follow
//!   the SDK rules; `WorkoutEvent`s are counted;
//! * `ActivitySummary` → daily totals (active energy, exercise minutes) of their own source.
//!
//! Everything is bounded: one XML event (a tag with its attributes, a text run, the DOCTYPE)
//! at most [`ExportLimits::max_event_bytes`], at most `max_attributes` attributes on an
//! element, `max_depth` open elements, `max_workout_children` children of a workout. A bad
//! item is dropped and counted by reason; a fault of the XML itself (malformed, truncated,
//! over a bound) ends the stream with an [`ExportFault`] naming the byte offset, after every
//! complete item before it was yielded. Records inside a `Correlation` are skipped: the
//! export lists the same samples at the top level too. Custom entities are never expanded.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::sdk::{
    MAX_EVENT_SECONDS, Sample, SdkProvider, SleepSegment, SourceInfo, WorkoutEvent, WorkoutInput,
    WorkoutStatistic, build_workout_from, check_source, check_span, map_record_type,
    normalize_record_value, stored_value,
};
use super::series::SeriesType;
use super::sleep::SleepStage;

/// The sleep analysis category identifier.
pub const SLEEP_ANALYSIS: &str = "HKCategoryTypeIdentifierSleepAnalysis";
/// The writer name of the data source that holds `ActivitySummary` daily totals.
pub const ACTIVITY_SUMMARY_SOURCE: &str = "Apple Health activity summary";
/// At most this many distinct skipped type names are counted by name (the rest as one).
pub const MAX_SKIPPED_NAMES: usize = 100;

/// Bounds of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportLimits {
    /// Bytes of one XML event (a start tag with its attributes, a text run, the DOCTYPE).
    pub max_event_bytes: usize,
    /// Attributes of one element.
    pub max_attributes: usize,
    /// Open elements at once.
    pub max_depth: usize,
    /// Statistics, metadata entries and events of one workout (the rest are ignored and
    /// counted).
    pub max_workout_children: usize,
}

impl Default for ExportLimits {
    fn default() -> Self {
        Self {
            max_event_bytes: 256 * 1024,
            max_attributes: 64,
            max_depth: 32,
            max_workout_children: 2_000,
        }
    }
}

/// A sample of an export, its source an index into [`ExportReader::sources`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSample {
    pub series: SeriesType,
    pub at: DateTime<Utc>,
    /// Canonical unit, rounded to the column scale.
    pub value: f64,
    pub zone_offset: Option<String>,
    pub source: usize,
    pub is_daily_total: Option<bool>,
}

/// One item of the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportItem {
    Sample(ExportSample),
    Sleep(Box<SleepSegment>),
    /// A workout and the samples of its series statistics.
    Workout(Box<WorkoutEvent>, Vec<Sample>),
    /// The daily totals of one `ActivitySummary` (empty when it had nothing to store).
    DailyTotals(Vec<ExportSample>),
}

/// A workout's route file (`<WorkoutRoute><FileReference path=…>`), read after the document
/// from the same archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRef {
    /// The file name (`route_2024-03-01_7.00am.gpx`).
    pub file: String,
    /// The route's own source (an index into [`ExportReader::sources`]).
    pub source: usize,
    /// The workout's zone offset, for the route's UTC track points.
    pub zone: Option<String>,
}

/// Route files one read keeps track of (more are dropped and counted).
pub const MAX_ROUTES: usize = 100_000;

/// What a read has seen so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportStats {
    /// `Record` elements outside correlations.
    pub records: u64,
    /// Samples yielded (records, activity-summary totals; workout statistics not included).
    pub samples: u64,
    pub sleep_segments: u64,
    pub workouts: u64,
    pub workout_events: u64,
    pub activity_summaries: u64,
    /// Records of types that are not stored (per type name; see [`MAX_SKIPPED_NAMES`]).
    pub skipped: BTreeMap<String, u64>,
    /// Items dropped, per reason.
    pub dropped: BTreeMap<String, u64>,
    /// Workout route files (`workout-routes/*.gpx` of an `export.zip`) read, and the track
    /// points they gave.
    #[serde(default)]
    pub routes: u64,
    #[serde(default)]
    pub route_points: u64,
}

impl ExportStats {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    pub fn drop_item(&mut self, reason: &'static str) {
        match self.dropped.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                self.dropped.insert(reason.to_string(), 1);
            }
        }
    }

    fn skip(&mut self, kind: &str) {
        let key = if self.skipped.contains_key(kind)
            || (self.skipped.len() < MAX_SKIPPED_NAMES && kind.len() <= 100)
        {
            kind.to_string()
        } else {
            "other".to_string()
        };
        *self.skipped.entry(key).or_default() += 1;
    }
}

/// Where and why a read stopped before the end of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFault {
    /// Byte offset in the XML stream.
    pub offset: u64,
    pub reason: String,
}

impl std::fmt::Display for ExportFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped at byte {}: {}", self.offset, self.reason)
    }
}

/// A [`BufRead`] that refuses to hand out more than `limit` bytes between two resets: the
/// bound of one XML event, enforced before the parser's buffer can grow past it.
struct Bounded<R> {
    inner: R,
    since_reset: usize,
    limit: usize,
}

impl<R: BufRead> io::Read for Bounded<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Bounded<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.since_reset > self.limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, OVERSIZED));
        }
        // Never more than one byte past the limit at once, so the check above trips before
        // the parser's buffer grows further.
        let room = self.limit + 1 - self.since_reset;
        let buf = self.inner.fill_buf()?;
        Ok(&buf[..buf.len().min(room)])
    }

    fn consume(&mut self, n: usize) {
        self.since_reset += n;
        self.inner.consume(n);
    }
}

const OVERSIZED: &str = "an XML element is larger than the limit";

/// Interned sources: records of one writer come in long runs, so the last raw key is
/// compared first and the map is only consulted when it changes.
#[derive(Default)]
struct SourceTable {
    list: Vec<SourceInfo>,
    fingerprints: Vec<String>,
    by_raw: HashMap<String, usize>,
    last_raw: String,
    last: Option<usize>,
}

impl SourceTable {
    /// The index of a (sourceName, sourceVersion, device) triple; `Err` when its fields are
    /// over the DataSource bounds.
    fn intern(
        &mut self,
        name: Option<&str>,
        version: Option<&str>,
        device: Option<&str>,
    ) -> Result<usize, &'static str> {
        let (n, v, d) = (
            name.unwrap_or(""),
            version.unwrap_or(""),
            device.unwrap_or(""),
        );
        let same = self.last.is_some()
            && self.last_raw.len() == n.len() + v.len() + d.len() + 2
            && self.last_raw.split('\u{1f}').eq([n, v, d]);
        if same {
            return self.last.ok_or("source");
        }
        self.last_raw.clear();
        for (i, part) in [n, v, d].iter().enumerate() {
            if i > 0 {
                self.last_raw.push('\u{1f}');
            }
            self.last_raw.push_str(part);
        }
        if let Some(&i) = self.by_raw.get(&self.last_raw) {
            self.last = Some(i);
            return Ok(i);
        }
        self.last = None;
        let info = SourceInfo {
            provider: SdkProvider::Apple,
            device_model: device.and_then(|d| device_field(d, "hardware")),
            software_version: version.filter(|v| !v.is_empty()).map(str::to_string),
            source: name.filter(|n| !n.is_empty()).map(str::to_string),
            sdk_device_type: None,
        };
        check_source(&info)?;
        let i = self.push(info);
        self.by_raw.insert(self.last_raw.clone(), i);
        self.last = Some(i);
        Ok(i)
    }

    fn push(&mut self, info: SourceInfo) -> usize {
        let fp = serde_json::json!({
            "name": info.source,
            "productType": info.device_model,
            "version": info.software_version,
        })
        .to_string();
        self.list.push(info);
        self.fingerprints.push(fp);
        self.list.len() - 1
    }
}

/// A field of HealthKit's device description
/// (`<<HKDevice: 0x…>, name:Apple Watch, manufacturer:Apple Inc., model:Watch, hardware:Watch6,2, software:9.0>`).
/// The hardware value may itself hold a comma (`Watch6,2`), so a field ends where the next
/// `, key:` begins.
pub fn device_field(device: &str, key: &str) -> Option<String> {
    let pat = format!(", {key}:");
    let start = device.find(&pat)? + pat.len();
    let rest = &device[start..];
    let mut end = rest.len();
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'>' {
            end = i;
            break;
        }
        if bytes[i] == b',' && bytes.get(i + 1) == Some(&b' ') {
            let tail = &rest[i + 2..];
            let word = tail.bytes().take_while(|c| c.is_ascii_alphabetic()).count();
            if word > 0 && tail.as_bytes().get(word) == Some(&b':') {
                end = i;
                break;
            }
        }
        i += 1;
    }
    let v = rest[..end].trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// A workout being read.
struct WorkoutBuilder {
    depth: usize,
    kind: Option<String>,
    start: Option<(DateTime<Utc>, String)>,
    end: Option<(DateTime<Utc>, String)>,
    source: Result<usize, &'static str>,
    /// (SDK statistic type, unit, value).
    stats: Vec<(&'static str, String, f64)>,
    children: usize,
    invalid: Option<&'static str>,
    /// The source of the `WorkoutRoute` child open now, if one is.
    route: Option<Result<usize, &'static str>>,
}

/// What a reader has to carry over to continue a document from a top-level element
/// boundary in another process: the source table, the activity-summary source and the
/// counts so far (an S3 import's checkpoint).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReaderState {
    pub sources: Vec<SourceInfo>,
    /// `(raw sourceName/sourceVersion/device key, source index)` of the interned sources.
    pub raw_keys: Vec<(String, usize)>,
    pub summary_source: Option<usize>,
    pub stats: ExportStats,
}

/// The root start tag a resumed read is primed with (see [`ExportReader::resume`]).
pub const RESUME_PRIME: &[u8] = b"<HealthData>";

/// Streaming reader of one `export.xml`.
pub struct ExportReader<R: BufRead> {
    /// Added to the parser's positions: a resumed read reports offsets of the whole file.
    base: u64,
    xml: quick_xml::Reader<Bounded<R>>,
    buf: Vec<u8>,
    limits: ExportLimits,
    depth: usize,
    saw_root: bool,
    /// Inside an element whose content is ignored: the depth it was opened at.
    skip_from: Option<usize>,
    workout: Option<WorkoutBuilder>,
    sources: SourceTable,
    summary_source: Option<usize>,
    stats: ExportStats,
    finished: bool,
    /// Return from the event loop as soon as a top-level boundary is reached.
    pause_at_boundary: bool,
    routes: Vec<RouteRef>,
}

impl<R: BufRead> ExportReader<R> {
    pub fn new(inner: R, limits: ExportLimits) -> Self {
        let mut xml = quick_xml::Reader::from_reader(Bounded {
            inner,
            since_reset: 0,
            limit: limits.max_event_bytes,
        });
        let cfg = xml.config_mut();
        cfg.trim_text(true);
        cfg.check_end_names = true;
        Self {
            base: 0,
            xml,
            buf: Vec::with_capacity(4096),
            limits,
            depth: 0,
            saw_root: false,
            skip_from: None,
            workout: None,
            sources: SourceTable::default(),
            summary_source: None,
            stats: ExportStats::default(),
            finished: false,
            pause_at_boundary: false,
            routes: Vec::new(),
        }
    }

    /// Continues a document at byte `offset` of the file, a top-level element boundary
    /// inside `HealthData` recorded with [`Self::state`] and [`Self::at_boundary`]. `inner`
    /// must yield [`RESUME_PRIME`] and then the file from `offset` on: the parser is re-primed
    /// inside the root element, and positions and fault offsets stay those of the file.
    pub fn resume(inner: R, limits: ExportLimits, offset: u64, state: ReaderState) -> Self {
        let mut r = Self::new(inner, limits);
        r.base = offset.saturating_sub(RESUME_PRIME.len() as u64);
        for info in state.sources {
            r.sources.push(info);
        }
        for (raw, i) in state.raw_keys {
            if i < r.sources.list.len() {
                r.sources.by_raw.insert(raw, i);
            }
        }
        r.summary_source = state.summary_source.filter(|i| *i < r.sources.list.len());
        r.stats = state.stats;
        r
    }

    /// What [`Self::resume`] needs to continue from [`Self::position`].
    pub fn state(&self) -> ReaderState {
        ReaderState {
            sources: self.sources.list.clone(),
            raw_keys: self
                .sources
                .by_raw
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            summary_source: self.summary_source,
            stats: self.stats.clone(),
        }
    }

    /// Whether [`Self::position`] is between two top-level elements of `HealthData` (no
    /// element of the document is open but the root): where a read can be resumed.
    pub fn at_boundary(&self) -> bool {
        self.saw_root
            && !self.finished
            && self.depth == 1
            && self.workout.is_none()
            && self.skip_from.is_none()
    }

    /// Reads on to the next top-level boundary without passing it: after an item, the rest
    /// of its element is ignored content, so this yields nothing in practice; an item that
    /// does come is returned (call again). `Ok(None)` at the boundary or the end.
    pub fn skip_to_boundary(&mut self) -> Result<Option<ExportItem>, ExportFault> {
        if self.finished || self.at_boundary() {
            return Ok(None);
        }
        self.pause_at_boundary = true;
        let out = self.next_item();
        self.pause_at_boundary = false;
        out
    }

    /// The sources seen so far (indexes of [`ExportSample::source`]).
    /// The route files the workouts so far referenced.
    pub fn routes(&self) -> &[RouteRef] {
        &self.routes
    }

    pub fn sources(&self) -> &[SourceInfo] {
        &self.sources.list
    }

    pub fn stats(&self) -> &ExportStats {
        &self.stats
    }

    /// Bytes of XML consumed so far (the file's offset of the next byte).
    pub fn position(&self) -> u64 {
        self.base + self.xml.buffer_position()
    }

    /// The next item; `Ok(None)` at the end of a complete document. After an `Err` the
    /// stream is over.
    pub fn next_item(&mut self) -> Result<Option<ExportItem>, ExportFault> {
        let mut buf = std::mem::take(&mut self.buf);
        let out = self.next_inner(&mut buf);
        self.buf = buf;
        if out.is_err() {
            self.finished = true;
        }
        out
    }

    fn fault(&self, offset: u64, reason: impl Into<String>) -> ExportFault {
        ExportFault {
            offset: self.base + offset,
            reason: reason.into(),
        }
    }

    fn next_inner(&mut self, buf: &mut Vec<u8>) -> Result<Option<ExportItem>, ExportFault> {
        while !self.finished {
            buf.clear();
            self.xml.get_mut().since_reset = 0;
            let at = self.xml.buffer_position();
            let event = match self.xml.read_event_into(buf) {
                Ok(_) if self.xml.get_ref().since_reset > self.limits.max_event_bytes => {
                    return Err(self.fault(
                        at,
                        format!("{OVERSIZED} ({} bytes)", self.limits.max_event_bytes),
                    ));
                }
                Ok(e) => e,
                Err(e) => {
                    let reason = match &e {
                        quick_xml::Error::Io(io) if io.to_string() == OVERSIZED => {
                            format!("{OVERSIZED} ({} bytes)", self.limits.max_event_bytes)
                        }
                        quick_xml::Error::Io(io) => format!("read error: {io}"),
                        // Every syntax error of the parser is input that ended inside a
                        // construct (a tag, a quoted value, a comment).
                        quick_xml::Error::Syntax(e) => {
                            format!("the file ends inside a tag: truncated ({e})")
                        }
                        other => format!("malformed XML: {other}"),
                    };
                    return Err(self.fault(self.xml.error_position().max(at), reason));
                }
            };
            match event {
                Event::Start(e) => {
                    self.depth += 1;
                    if self.depth > self.limits.max_depth {
                        return Err(self.fault(at, "elements nested too deeply"));
                    }
                    if let Some(item) = self.open(&e, false, at)? {
                        return Ok(Some(item));
                    }
                }
                Event::Empty(e) => {
                    self.depth += 1;
                    let item = self.open(&e, true, at);
                    self.depth -= 1;
                    if let Some(item) = item? {
                        return Ok(Some(item));
                    }
                }
                Event::End(_) => {
                    let closing = self.depth;
                    self.depth = self.depth.saturating_sub(1);
                    if self.skip_from == Some(closing) {
                        self.skip_from = None;
                    }
                    if self.workout.as_ref().is_some_and(|w| w.depth == closing)
                        && let Some(w) = self.workout.take()
                        && let Some(item) = self.finish_workout(w)
                    {
                        return Ok(Some(item));
                    }
                    if closing == 1 {
                        // The root closed: whatever follows is ignored.
                        self.finished = true;
                    }
                    if self.pause_at_boundary && self.at_boundary() {
                        return Ok(None);
                    }
                }
                Event::Eof => {
                    self.finished = true;
                    if self.depth > 0 {
                        return Err(self.fault(
                            at,
                            format!(
                                "the file ends inside an open element (depth {}): truncated",
                                self.depth
                            ),
                        ));
                    }
                    if !self.saw_root {
                        return Err(
                            self.fault(at, "no HealthData element: not an Apple Health export")
                        );
                    }
                }
                Event::Text(_)
                | Event::CData(_)
                | Event::Comment(_)
                | Event::Decl(_)
                | Event::PI(_)
                | Event::DocType(_)
                | Event::GeneralRef(_) => {}
            }
        }
        Ok(None)
    }

    /// An element opened (or an empty one) at `self.depth`.
    fn open(
        &mut self,
        e: &BytesStart<'_>,
        empty: bool,
        at: u64,
    ) -> Result<Option<ExportItem>, ExportFault> {
        let d = self.depth;
        if d == 1 {
            if e.name().as_ref() != "HealthData" {
                return Err(self.fault(
                    at,
                    "the root element is not HealthData: not an Apple Health export",
                ));
            }
            self.saw_root = true;
            return Ok(None);
        }
        if self.skip_from.is_some_and(|s| d > s) {
            return Ok(None);
        }
        let attrs = match Attrs::read(e, self.limits.max_attributes) {
            Ok(a) => a,
            Err(reason) => {
                self.stats.drop_item(reason);
                if !empty {
                    self.skip_from = Some(d);
                }
                return Ok(None);
            }
        };
        if let Some(depth) = self.workout.as_ref().map(|w| w.depth) {
            let name = e.name();
            let name: &str = name.as_ref();
            if d == depth + 1 && name == "WorkoutRoute" && !empty {
                // Its children (the file reference) are read.
                let source = self.source_of(&attrs);
                if let Some(w) = self.workout.as_mut() {
                    w.route = Some(source);
                }
                return Ok(None);
            }
            if d == depth + 2 && name == "FileReference" {
                self.route_file(&attrs);
            } else if let Some(w) = self.workout.as_mut()
                && d == depth + 1
            {
                w.route = None;
                workout_child(w, name, &attrs, &mut self.stats, self.limits);
            }
            if !empty {
                self.skip_from = Some(d);
            }
            return Ok(None);
        }
        let item = match e.name().as_ref() {
            "Record" => self.record(&attrs),
            "Workout" => {
                let w = self.start_workout(&attrs, d);
                if empty {
                    return Ok(self.finish_workout(w));
                }
                self.workout = Some(w);
                return Ok(None);
            }
            "ActivitySummary" => self.activity_summary(&attrs),
            _ => None,
        };
        if !empty {
            self.skip_from = Some(d);
        }
        Ok(item)
    }

    fn record(&mut self, a: &Attrs) -> Option<ExportItem> {
        self.stats.records += 1;
        let Some(kind) = a.get("type") else {
            self.stats.drop_item("record without a type");
            return None;
        };
        if kind == SLEEP_ANALYSIS {
            return match self.sleep(a) {
                Ok(Some(seg)) => {
                    self.stats.sleep_segments += 1;
                    Some(ExportItem::Sleep(Box::new(seg)))
                }
                Ok(None) => {
                    self.stats
                        .skip("HKCategoryTypeIdentifierSleepAnalysis (unknown stage)");
                    None
                }
                Err(reason) => {
                    self.stats.drop_item(reason);
                    None
                }
            };
        }
        let Some(series) = map_record_type(kind) else {
            self.stats.skip(kind);
            return None;
        };
        match self.quantity(series, a) {
            Ok(s) => {
                self.stats.samples += 1;
                Some(ExportItem::Sample(s))
            }
            Err(reason) => {
                self.stats.drop_item(reason);
                None
            }
        }
    }

    /// A `FileReference` inside the open `WorkoutRoute`.
    fn route_file(&mut self, a: &Attrs) {
        let Some(w) = self.workout.as_ref() else {
            return;
        };
        let Some(source) = w.route else {
            return;
        };
        let file = a
            .get("path")
            .and_then(|p| p.rsplit('/').next())
            .filter(|f| !f.is_empty() && f.len() <= 255);
        let reason = match (source, file) {
            (Err(reason), _) => reason,
            (Ok(_), None) => "workout route without a file path",
            (Ok(_), Some(_)) if self.routes.len() >= MAX_ROUTES => "workout route over the limit",
            (Ok(source), Some(file)) => {
                self.routes.push(RouteRef {
                    file: file.to_string(),
                    source,
                    zone: w.start.as_ref().map(|(_, z)| z.clone()),
                });
                return;
            }
        };
        self.stats.drop_item(reason);
    }

    fn source_of(&mut self, a: &Attrs) -> Result<usize, &'static str> {
        self.sources
            .intern(a.get("sourceName"), a.get("sourceVersion"), a.get("device"))
    }

    fn quantity(&mut self, series: SeriesType, a: &Attrs) -> Result<ExportSample, &'static str> {
        let (start, zone) = a.date("startDate")?;
        let (end, _) = a.date("endDate")?;
        check_span(start, end, None)?;
        let raw: f64 = a
            .get("value")
            .ok_or("record without a value")?
            .trim()
            .parse()
            .map_err(|_| "value is not a number")?;
        if !raw.is_finite() {
            return Err("value is not a number");
        }
        let value = to_canonical(series, raw, a.get("unit").unwrap_or(""))?;
        let source = self.source_of(a)?;
        Ok(ExportSample {
            series,
            at: start,
            value: stored_value(value)?,
            zone_offset: Some(zone),
            source,
            is_daily_total: series.is_daily_total(),
        })
    }

    fn sleep(&mut self, a: &Attrs) -> Result<Option<SleepSegment>, &'static str> {
        let (start, zone) = a.date("startDate")?;
        let (end, _) = a.date("endDate")?;
        check_span(start, end, Some(MAX_EVENT_SECONDS))?;
        let Some(stage) = a.get("value").and_then(sleep_stage) else {
            return Ok(None);
        };
        let source = self.source_of(a)?;
        Ok(Some(SleepSegment {
            external_id: None,
            stage,
            start,
            end,
            zone_offset: Some(zone),
            source: self.sources.list[source].clone(),
            source_fingerprint: self.sources.fingerprints[source].clone(),
        }))
    }

    fn start_workout(&mut self, a: &Attrs, depth: usize) -> WorkoutBuilder {
        let mut w = WorkoutBuilder {
            depth,
            kind: a.get("workoutActivityType").map(workout_kind),
            start: a.date("startDate").ok(),
            end: a.date("endDate").ok(),
            source: self.source_of(a),
            stats: Vec::new(),
            children: 0,
            invalid: None,
            route: None,
        };
        if w.start.is_none() || w.end.is_none() {
            w.invalid = Some("workout without valid dates");
        }
        if let Some(v) = a.number("duration") {
            let secs = match a.get("durationUnit").unwrap_or("min") {
                "s" => Some(v),
                "min" => Some(v * 60.0),
                "hr" | "h" => Some(v * 3600.0),
                "ms" => Some(v / 1000.0),
                _ => None,
            };
            if let Some(secs) = secs {
                w.stats.push(("duration", "s".into(), secs));
            }
        }
        if let Some(v) = a.number("totalEnergyBurned")
            && let Ok(kcal) = to_canonical(
                SeriesType::Energy,
                v,
                a.get("totalEnergyBurnedUnit").unwrap_or("kcal"),
            )
        {
            w.stats.push(("totalEnergyBurned", "kcal".into(), kcal));
        }
        if let Some(v) = a.number("totalDistance")
            && let Ok(m) = to_canonical(
                SeriesType::DistanceWalkingRunning,
                v,
                a.get("totalDistanceUnit").unwrap_or("km"),
            )
        {
            w.stats.push(("totalDistance", "m".into(), m));
        }
        w
    }

    fn finish_workout(&mut self, w: WorkoutBuilder) -> Option<ExportItem> {
        let built = (|| {
            if let Some(r) = w.invalid {
                return Err(r);
            }
            let source = w.source?;
            let ((start, zone), (end, _)) = (
                w.start.clone().ok_or("workout without valid dates")?,
                w.end.clone().ok_or("workout without valid dates")?,
            );
            let stats: Vec<WorkoutStatistic<'_>> = w
                .stats
                .iter()
                .map(|(kind, unit, value)| WorkoutStatistic {
                    kind,
                    unit,
                    value: *value,
                })
                .collect();
            build_workout_from(WorkoutInput {
                external_id: None,
                kind: w.kind.as_deref(),
                start,
                end,
                zone_offset: Some(&zone),
                source: self.sources.list[source].clone(),
                statistics: Some(&stats),
            })
        })();
        match built {
            Ok((event, samples)) => {
                self.stats.workouts += 1;
                Some(ExportItem::Workout(Box::new(event), samples))
            }
            Err(reason) => {
                self.stats.drop_item(reason);
                None
            }
        }
    }

    fn activity_summary(&mut self, a: &Attrs) -> Option<ExportItem> {
        self.stats.activity_summaries += 1;
        let Some(date) = a
            .get("dateComponents")
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            self.stats
                .drop_item("activity summary without a valid date");
            return None;
        };
        let at = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?);
        if !super::time::stored_instant_in_range(at) {
            self.stats.drop_item("timestamp out of range");
            return None;
        }
        let source = *self.summary_source.get_or_insert_with(|| {
            self.sources.push(SourceInfo {
                provider: SdkProvider::Apple,
                device_model: None,
                software_version: None,
                source: Some(ACTIVITY_SUMMARY_SOURCE.to_string()),
                sdk_device_type: None,
            })
        });
        let mut out = Vec::new();
        let mut add = |series: SeriesType, value: Option<f64>, unit: &str| {
            if let Some(v) = value.filter(|v| *v > 0.0)
                && let Ok(v) = to_canonical(series, v, unit).and_then(stored_value)
            {
                out.push(ExportSample {
                    series,
                    at,
                    value: v,
                    zone_offset: None,
                    source,
                    is_daily_total: Some(true),
                });
            }
        };
        add(
            SeriesType::Energy,
            a.number("activeEnergyBurned"),
            a.get("activeEnergyBurnedUnit").unwrap_or("kcal"),
        );
        add(
            SeriesType::ExerciseTime,
            a.number("appleExerciseTime"),
            "min",
        );
        self.stats.samples += out.len() as u64;
        Some(ExportItem::DailyTotals(out))
    }
}

/// A child element of a workout.
fn workout_child(
    w: &mut WorkoutBuilder,
    name: &str,
    a: &Attrs,
    stats: &mut ExportStats,
    limits: ExportLimits,
) {
    if !matches!(name, "WorkoutStatistics" | "MetadataEntry" | "WorkoutEvent") {
        return;
    }
    w.children += 1;
    if w.children > limits.max_workout_children {
        stats.drop_item("workout child over the limit");
        return;
    }
    match name {
        "WorkoutEvent" => stats.workout_events += 1,
        "WorkoutStatistics" => {
            if let Some(kind) = a.get("type") {
                workout_statistic(w, kind, a);
            }
        }
        _ => {
            if let (Some(key), Some(value)) = (a.get("key"), a.get("value")) {
                workout_metadata(w, key, value);
            }
        }
    }
}

/// `WorkoutStatistics` → the SDK's statistic vocabulary, in canonical units.
fn workout_statistic(w: &mut WorkoutBuilder, kind: &str, a: &Attrs) {
    use SeriesType as S;
    let unit = a.get("unit").unwrap_or("");
    let name = kind
        .strip_prefix("HKQuantityTypeIdentifier")
        .unwrap_or(kind);
    let mut push = |sdk: &'static str, series: SeriesType, field: &str, out_unit: &str| {
        if let Some(v) = a.number(field)
            && let Ok(v) = to_canonical(series, v, unit)
        {
            w.stats.push((sdk, out_unit.to_string(), v));
        }
    };
    match name {
        "ActiveEnergyBurned" => push("activeEnergyBurned", S::Energy, "sum", "kcal"),
        "BasalEnergyBurned" => push("basalEnergyBurned", S::BasalEnergy, "sum", "kcal"),
        "StepCount" => push("stepCount", S::Steps, "sum", "count"),
        "HeartRate" => {
            push("minHeartRate", S::HeartRate, "minimum", "bpm");
            push("averageHeartRate", S::HeartRate, "average", "bpm");
            push("maxHeartRate", S::HeartRate, "maximum", "bpm");
        }
        "RunningPower" | "CyclingPower" => {
            push("averageRunningPower", S::RunningPower, "average", "W")
        }
        "RunningSpeed" => {
            push("averageRunningSpeed", S::RunningSpeed, "average", "m/s");
            push("maxSpeed", S::RunningSpeed, "maximum", "m/s");
        }
        "RunningStrideLength" => push(
            "averageRunningStrideLength",
            S::RunningStrideLength,
            "average",
            "cm",
        ),
        "RunningVerticalOscillation" => push(
            "averageVerticalOscillation",
            S::RunningVerticalOscillation,
            "average",
            "cm",
        ),
        "RunningGroundContactTime" => push(
            "averageGroundContactTime",
            S::RunningGroundContactTime,
            "average",
            "ms",
        ),
        "SwimmingStrokeCount" => push(
            "swimmingStrokeCount",
            S::SwimmingStrokeCount,
            "sum",
            "count",
        ),
        "CyclingCadence" => push("meanCadence", S::Cadence, "average", "rpm"),
        n if n.starts_with("Distance") => {
            push("distance", S::DistanceWalkingRunning, "sum", "m");
        }
        _ => {}
    }
}

/// Workout metadata with a quantity value (`"123 cm"`).
fn workout_metadata(w: &mut WorkoutBuilder, key: &str, value: &str) {
    use SeriesType as S;
    let mut parts = value.trim().splitn(2, ' ');
    let Some(Ok(v)) = parts.next().map(str::parse::<f64>) else {
        return;
    };
    if !v.is_finite() {
        return;
    }
    let unit = parts.next().unwrap_or("").trim();
    let converted = match key {
        "HKElevationAscended" => {
            to_canonical(S::Elevation, v, unit).map(|m| ("elevationAscended", "m", m))
        }
        "HKAverageMETs" => Ok(("averageMETs", "met", v)),
        "HKWeatherTemperature" => {
            to_canonical(S::WeatherTemperature, v, unit).map(|c| ("weatherTemperature", "degC", c))
        }
        // HealthKit writes humidity in hundredths of a percent ("6500 %" is 65 %).
        "HKWeatherHumidity" if unit == "%" => Ok((
            "weatherHumidity",
            "%",
            if v > 100.0 { v / 100.0 } else { v },
        )),
        _ => return,
    };
    if let Ok((kind, unit, v)) = converted {
        w.stats.push((kind, unit.to_string(), v));
    }
}

/// `HKWorkoutActivityTypeTraditionalStrengthTraining` → `traditional_strength_training`, the
/// SDK's HealthKit spelling (mapped by the SDK's workout table).
pub fn workout_kind(raw: &str) -> String {
    let name = raw.strip_prefix("HKWorkoutActivityType").unwrap_or(raw);
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// HealthKit sleep analysis values → the SDK's stages; `None` for a value it does not know.
pub fn sleep_stage(value: &str) -> Option<SleepStage> {
    let v = value
        .strip_prefix("HKCategoryValueSleepAnalysis")
        .unwrap_or(value);
    SleepStage::parse(match v {
        "InBed" => "in_bed",
        "Asleep" | "AsleepUnspecified" => "sleeping",
        "Awake" => "awake",
        "AsleepCore" => "light",
        "AsleepDeep" => "deep",
        "AsleepREM" => "rem",
        _ => return None,
    })
}

/// Parses the export's dates (`2024-03-01 07:15:00 +0100`): the instant and its offset as
/// `±HH:MM`.
pub fn parse_export_date(s: &str) -> Option<(DateTime<Utc>, String)> {
    let b = s.trim().as_bytes();
    if b.len() != 25 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[19] != b' ' || !(b[20] == b'+' || b[20] == b'-') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let (oh, om) = (num(21..23)?, num(23..25)?);
    if om >= 60 || oh > 18 || (oh == 18 && om > 0) {
        return None;
    }
    let naive = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, mo, d)?.and_hms_opt(h, mi, sec)?;
    let offset = i64::from(oh * 3600 + om * 60) * if b[20] == b'-' { -1 } else { 1 };
    let utc = Utc.from_utc_datetime(&naive) - chrono::Duration::seconds(offset);
    let zone = format!("{}{:02}:{:02}", b[20] as char, oh, om);
    Some((utc, zone))
}

/// Converts a value in a HealthKit unit into the series' canonical unit. HealthKit writes
/// percentages as fractions (`0.97` with unit `%`). A unit of another dimension than the
/// series', or one not known here, drops the record (`Err`).
pub fn to_canonical(series: SeriesType, value: f64, unit: &str) -> Result<f64, &'static str> {
    let target = series.unit();
    if series == SeriesType::BloodGlucose {
        return match unit {
            "mg/dL" => Ok(value),
            u if u.starts_with("mmol") && u.ends_with("/L") => Ok(normalize_record_value(
                series,
                value,
                Some(u),
                SdkProvider::Apple,
            )),
            _ => Err("unit not convertible"),
        };
    }
    if let Some(v) = temperature(value, unit, target) {
        return Ok(v);
    }
    // Dimensionless targets take any count-like unit as it is.
    if matches!(target, "count" | "score" | "years" | "kg_m2") {
        return match unit {
            "" | "count" | "appleEffortScore" | "kcal/hr·kg" | "yr" | "kg/m^2" => Ok(value),
            _ => Err("unit not convertible"),
        };
    }
    let (Some((dim_from, f_from)), Some((dim_to, f_to))) = (scale(unit), scale(target)) else {
        return Err("unit not convertible");
    };
    if dim_from != dim_to {
        return Err("unit not convertible");
    }
    Ok(value * f_from / f_to)
}

fn temperature(value: f64, unit: &str, target: &str) -> Option<f64> {
    if target != "celsius" {
        return None;
    }
    match unit {
        "degC" | "celsius" | "°C" => Some(value),
        "degF" | "°F" => Some((value - 32.0) * 5.0 / 9.0),
        "K" => Some(value - 273.15),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dim {
    Length,
    Mass,
    Energy,
    Time,
    Speed,
    PerMinute,
    Percent,
    Pressure,
    Volume,
    Flow,
    Sound,
    Power,
    Vo2,
    Met,
}

/// A unit's dimension and its factor to that dimension's base (canonical codes and HealthKit
/// spellings alike).
fn scale(unit: &str) -> Option<(Dim, f64)> {
    use Dim::*;
    Some(match unit {
        "m" | "meters" => (Length, 1.0),
        "cm" => (Length, 0.01),
        "mm" => (Length, 0.001),
        "km" => (Length, 1000.0),
        "in" => (Length, 0.0254),
        "ft" => (Length, 0.3048),
        "yd" => (Length, 0.9144),
        "mi" => (Length, 1609.344),
        "kg" => (Mass, 1.0),
        "g" => (Mass, 0.001),
        "lb" => (Mass, 0.453_592_37),
        "oz" => (Mass, 0.028_349_523_125),
        "st" => (Mass, 6.350_293_18),
        "kcal" | "Cal" => (Energy, 1.0),
        "cal" => (Energy, 0.001),
        "kJ" => (Energy, 1.0 / 4.184),
        "J" => (Energy, 1.0 / 4184.0),
        "s" => (Time, 1.0),
        "ms" => (Time, 0.001),
        "min" | "minutes" => (Time, 60.0),
        "hr" | "h" => (Time, 3600.0),
        "d" => (Time, 86_400.0),
        "m/s" | "m_per_s" => (Speed, 1.0),
        "km/hr" => (Speed, 1.0 / 3.6),
        "mi/hr" => (Speed, 0.447_04),
        "m/min" => (Speed, 1.0 / 60.0),
        "count/min" | "bpm" | "brpm" | "rpm" | "/min" => (PerMinute, 1.0),
        "count/s" => (PerMinute, 60.0),
        "count/hr" => (PerMinute, 1.0 / 60.0),
        "%" => (Percent, 100.0),
        "percent" => (Percent, 1.0),
        "mmHg" => (Pressure, 1.0),
        "kPa" => (Pressure, 7.500_615_75),
        "L" | "liters" => (Volume, 1.0),
        "mL" => (Volume, 0.001),
        "L/min" => (Flow, 1.0),
        "mL/min" => (Flow, 0.001),
        "dBASPL" | "dB" | "dBHL" => (Sound, 1.0),
        "W" | "watts" => (Power, 1.0),
        "kW" => (Power, 1000.0),
        "mL/min·kg" | "mL/kg·min" | "ml_kg_min" => (Vo2, 1.0),
        "kcal/hr·kg" | "met" => (Met, 1.0),
        _ => return None,
    })
}

/// The attributes of one element, borrowed from the parser's buffer (unescaped only when
/// they hold an entity).
struct Attrs<'a> {
    pairs: Vec<(&'a str, std::borrow::Cow<'a, str>)>,
}

impl<'a> Attrs<'a> {
    fn read(e: &'a BytesStart<'a>, max: usize) -> Result<Self, &'static str> {
        let mut pairs = Vec::with_capacity(12);
        for attr in e.attributes().with_checks(false) {
            let attr = attr.map_err(|_| "malformed attribute")?;
            if pairs.len() >= max {
                return Err("too many attributes");
            }
            let value = if attr.value.contains('&') {
                std::borrow::Cow::Owned(
                    attr.normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|_| "malformed attribute")?
                        .into_owned(),
                )
            } else {
                attr.value
            };
            pairs.push((attr.key.into_inner(), value));
        }
        Ok(Self { pairs })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.get(key)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite())
    }

    fn date(&self, key: &str) -> Result<(DateTime<Utc>, String), &'static str> {
        self.get(key)
            .and_then(parse_export_date)
            .ok_or("invalid date")
    }
}

/// Reads the track points of one GPX route file (`<trkpt lat lon><ele/><time/></trkpt>`)
/// as latitude, longitude and elevation samples of `source` (values at the column scale, a
/// thousandth of a degree). Points without a valid time or position are dropped and
/// counted in `stats`. Every event is at most `max_event_bytes`; a fault of the XML ends the
/// read with its reason after the points before it were given to `out`. Returns the points
/// read.
pub fn read_gpx<R: BufRead>(
    inner: R,
    max_event_bytes: usize,
    source: usize,
    zone: Option<&str>,
    stats: &mut ExportStats,
    mut out: impl FnMut(ExportSample),
) -> Result<u64, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Field {
        None,
        Ele,
        Time,
    }
    struct Pt {
        lat: Option<f64>,
        lon: Option<f64>,
        ele: Option<f64>,
        time: Option<DateTime<Utc>>,
    }
    let mut xml = quick_xml::Reader::from_reader(Bounded {
        inner,
        since_reset: 0,
        limit: max_event_bytes,
    });
    xml.config_mut().trim_text(true);
    xml.config_mut().check_end_names = true;
    let mut buf = Vec::with_capacity(1024);
    let (mut pt, mut field, mut points) = (None::<Pt>, Field::None, 0u64);
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    loop {
        buf.clear();
        xml.get_mut().since_reset = 0;
        let event = xml.read_event_into(&mut buf).map_err(|e| match e {
            quick_xml::Error::Io(io) => format!("read error: {io}"),
            other => format!("malformed GPX: {other}"),
        })?;
        if xml.get_ref().since_reset > max_event_bytes {
            return Err(format!("{OVERSIZED} ({max_event_bytes} bytes)"));
        }
        let mut close_point =
            matches!(&event, Event::Empty(e) if e.local_name().as_ref() == "trkpt");
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "trkpt" => {
                let a = Attrs::read(&e, 16).unwrap_or(Attrs { pairs: Vec::new() });
                pt = Some(Pt {
                    lat: a.number("lat").filter(|v| (-90.0..=90.0).contains(v)),
                    lon: a.number("lon").filter(|v| (-180.0..=180.0).contains(v)),
                    ele: None,
                    time: None,
                });
            }
            Event::Start(e) if pt.is_some() => {
                field = match e.local_name().as_ref() {
                    "ele" => Field::Ele,
                    "time" => Field::Time,
                    _ => Field::None,
                };
            }
            Event::Text(t) if field != Field::None => {
                let text = t.xml_content(XmlVersion::Implicit1_0);
                if let Some(p) = pt.as_mut() {
                    match field {
                        Field::Ele => {
                            p.ele = text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
                        }
                        Field::Time => {
                            p.time = DateTime::parse_from_rfc3339(text.trim())
                                .ok()
                                .map(|t| t.to_utc())
                        }
                        Field::None => {}
                    }
                }
            }
            Event::End(e) => {
                field = Field::None;
                close_point = e.local_name().as_ref() == "trkpt";
            }
            Event::Eof => break,
            _ => {}
        }
        if close_point && let Some(p) = pt.take() {
            let (Some(lat), Some(lon), Some(at)) = (p.lat, p.lon, p.time) else {
                stats.drop_item("route point without a valid time or position");
                continue;
            };
            // Microseconds, as every stored instant.
            let at = chrono::SubsecRound::trunc_subsecs(at, 6);
            let sample = |series, value| ExportSample {
                series,
                at,
                value,
                zone_offset: zone.map(str::to_string),
                source,
                is_daily_total: None,
            };
            out(sample(SeriesType::Latitude, round(lat)));
            out(sample(SeriesType::Longitude, round(lon)));
            if let Some(ele) = p.ele.filter(|e| e.abs() < 1e6) {
                out(sample(SeriesType::Elevation, round(ele)));
            }
            points += 1;
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(xml: &str) -> (Vec<ExportItem>, ExportStats, Option<ExportFault>) {
        let mut r = ExportReader::new(xml.as_bytes(), ExportLimits::default());
        let mut items = Vec::new();
        let fault = loop {
            match r.next_item() {
                Ok(Some(i)) => items.push(i),
                Ok(None) => break None,
                Err(f) => break Some(f),
            }
        };
        (items, r.stats().clone(), fault)
    }

    const DEVICE: &str = "&lt;&lt;HKDevice: 0x2833&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, hardware:Watch6,2, software:9.1&gt;";

    fn doc(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE HealthData [\n<!ELEMENT HealthData (Record*)>\n]>\n<HealthData locale=\"en_US\">\n<ExportDate value=\"2024-03-02 10:00:00 +0100\"/>\n{body}\n</HealthData>\n"
        )
    }

    fn record(kind: &str, unit: &str, value: &str, start: &str) -> String {
        format!(
            "<Record type=\"{kind}\" sourceName=\"Ada’s Watch\" sourceVersion=\"9.1\" device=\"{DEVICE}\" unit=\"{unit}\" creationDate=\"{start}\" startDate=\"{start}\" endDate=\"{start}\" value=\"{value}\"/>"
        )
    }

    #[test]
    fn dates_carry_their_offset() {
        let (t, z) = parse_export_date("2024-03-01 07:15:00 +0100").expect("date");
        assert_eq!(t.to_rfc3339(), "2024-03-01T06:15:00+00:00");
        assert_eq!(z, "+01:00");
        let (t, z) = parse_export_date("2024-03-01 23:30:00 -0930").expect("date");
        assert_eq!(t.to_rfc3339(), "2024-03-02T09:00:00+00:00");
        assert_eq!(z, "-09:30");
        for bad in [
            "2024-03-01T07:15:00+01:00",
            "2024-02-30 07:15:00 +0100",
            "2024-03-01 07:15:00 +1900",
            "2024-03-01 07:15:00 +0160",
            "",
        ] {
            assert!(parse_export_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_device_description_gives_the_hardware_model() {
        let d = "<<HKDevice: 0x2833>, name:Apple Watch, manufacturer:Apple Inc., model:Watch, hardware:Watch6,2, software:9.1>";
        assert_eq!(device_field(d, "hardware").as_deref(), Some("Watch6,2"));
        assert_eq!(device_field(d, "software").as_deref(), Some("9.1"));
        assert_eq!(device_field(d, "name").as_deref(), Some("Apple Watch"));
        assert_eq!(device_field("garbage", "hardware"), None);
    }

    #[test]
    fn units_are_converted_into_the_canonical_unit() {
        use SeriesType as S;
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(close(to_canonical(S::Height, 1.75, "m").expect("m"), 175.0));
        assert!(close(
            to_canonical(S::Height, 70.0, "in").expect("in"),
            177.8
        ));
        assert!(close(
            to_canonical(S::Weight, 150.0, "lb").expect("lb"),
            68.038_855_5
        ));
        assert!(close(
            to_canonical(S::DistanceWalkingRunning, 1.2, "km").expect("km"),
            1200.0
        ));
        assert!(close(
            to_canonical(S::OxygenSaturation, 0.97, "%").expect("%"),
            97.0
        ));
        assert!(close(
            to_canonical(S::BodyFatPercentage, 0.2, "%").expect("%"),
            20.0
        ));
        assert!(close(
            to_canonical(S::Energy, 4.184, "kJ").expect("kJ"),
            1.0
        ));
        assert!(close(
            to_canonical(S::BodyTemperature, 98.6, "degF").expect("F"),
            37.0
        ));
        assert!(close(
            to_canonical(S::WalkingSpeed, 3.6, "km/hr").expect("kmh"),
            1.0
        ));
        assert!(close(
            to_canonical(S::HeartRate, 61.0, "count/min").expect("bpm"),
            61.0
        ));
        assert!(close(
            to_canonical(S::ExerciseTime, 2.0, "hr").expect("hr"),
            120.0
        ));
        assert!(close(
            to_canonical(S::BloodGlucose, 5.5, "mmol<180.15588000005408>/L").expect("mmol"),
            99.1001
        ));
        assert!(close(
            to_canonical(S::BloodGlucose, 99.0, "mg/dL").expect("mg"),
            99.0
        ));
        assert!(close(
            to_canonical(S::Vo2Max, 45.2, "mL/min·kg").expect("vo2"),
            45.2
        ));
        assert!(to_canonical(S::Weight, 1.0, "km").is_err());
        assert!(to_canonical(S::HeartRate, 1.0, "furlong").is_err());
        assert!(to_canonical(S::Steps, 1.0, "kg").is_err());
    }

    #[test]
    fn workout_kinds_use_the_sdk_spelling() {
        assert_eq!(
            workout_kind("HKWorkoutActivityTypeTraditionalStrengthTraining"),
            "traditional_strength_training"
        );
        assert_eq!(workout_kind("HKWorkoutActivityTypeRunning"), "running");
        assert_eq!(
            sleep_stage("HKCategoryValueSleepAnalysisAsleepREM"),
            Some(SleepStage::Rem)
        );
        assert_eq!(
            sleep_stage("HKCategoryValueSleepAnalysisInBed"),
            Some(SleepStage::InBed)
        );
        assert_eq!(sleep_stage("HKCategoryValueSleepAnalysisNap"), None);
    }

    #[test]
    fn records_become_samples_with_their_source_and_zone() {
        let body = [
            record(
                "HKQuantityTypeIdentifierHeartRate",
                "count/min",
                "61",
                "2024-03-01 07:15:00 +0100",
            ),
            record(
                "HKQuantityTypeIdentifierBodyMass",
                "lb",
                "150",
                "2024-03-01 07:20:00 +0100",
            ),
            record(
                "HKQuantityTypeIdentifierDietaryWater",
                "mL",
                "250",
                "2024-03-01 07:20:00 +0100",
            ),
            record(
                "HKQuantityTypeIdentifierHeartRate",
                "count/min",
                "abc",
                "2024-03-01 07:25:00 +0100",
            ),
        ]
        .join("\n");
        let (items, stats, fault) = read_all(&doc(&body));
        assert_eq!(fault, None);
        assert_eq!(items.len(), 2);
        let ExportItem::Sample(hr) = &items[0] else {
            panic!("{:?}", items[0]);
        };
        assert_eq!(hr.series, SeriesType::HeartRate);
        assert_eq!(hr.value, 61.0);
        assert_eq!(hr.zone_offset.as_deref(), Some("+01:00"));
        assert_eq!(hr.at.to_rfc3339(), "2024-03-01T06:15:00+00:00");
        let ExportItem::Sample(w) = &items[1] else {
            panic!("{:?}", items[1]);
        };
        assert_eq!(w.value, 68.039);
        assert_eq!(hr.source, w.source, "one interned source");
        assert_eq!(stats.records, 4);
        assert_eq!(stats.samples, 2);
        assert_eq!(
            stats.skipped.get("HKQuantityTypeIdentifierDietaryWater"),
            Some(&1)
        );
        assert_eq!(stats.dropped.get("value is not a number"), Some(&1));
    }

    #[test]
    fn the_source_matches_what_the_sdk_derives() {
        let body = record(
            "HKQuantityTypeIdentifierStepCount",
            "count",
            "12",
            "2024-03-01 07:15:00 +0100",
        );
        let text = doc(&body);
        let mut r = ExportReader::new(text.as_bytes(), ExportLimits::default());
        while let Ok(Some(_)) = r.next_item() {}
        let s = &r.sources()[0];
        assert_eq!(s.device_model.as_deref(), Some("Watch6,2"));
        assert_eq!(s.source.as_deref(), Some("Ada’s Watch"));
        assert_eq!(s.software_version.as_deref(), Some("9.1"));
    }

    #[test]
    fn workouts_sleep_and_summaries_are_read() {
        let body = format!(
            "<Workout workoutActivityType=\"HKWorkoutActivityTypeRunning\" duration=\"30\" durationUnit=\"min\" sourceName=\"Watch\" device=\"{DEVICE}\" startDate=\"2024-03-01 07:00:00 +0100\" endDate=\"2024-03-01 07:30:00 +0100\">\n\
             <MetadataEntry key=\"HKElevationAscended\" value=\"1200 cm\"/>\n\
             <WorkoutEvent type=\"HKWorkoutEventTypeSegment\" date=\"2024-03-01 07:10:00 +0100\"/>\n\
             <WorkoutStatistics type=\"HKQuantityTypeIdentifierActiveEnergyBurned\" sum=\"310.5\" unit=\"kcal\"/>\n\
             <WorkoutStatistics type=\"HKQuantityTypeIdentifierHeartRate\" average=\"142.25\" minimum=\"98\" maximum=\"171\" unit=\"count/min\"/>\n\
             <WorkoutStatistics type=\"HKQuantityTypeIdentifierDistanceWalkingRunning\" sum=\"5.2\" unit=\"km\"/>\n\
             <WorkoutRoute sourceName=\"Watch\"><FileReference path=\"/workout-routes/route_1.gpx\"/></WorkoutRoute>\n\
             </Workout>\n\
             <Record type=\"{SLEEP_ANALYSIS}\" sourceName=\"Watch\" startDate=\"2024-03-01 23:00:00 +0100\" endDate=\"2024-03-02 01:00:00 +0100\" value=\"HKCategoryValueSleepAnalysisAsleepCore\"/>\n\
             <ActivitySummary dateComponents=\"2024-03-01\" activeEnergyBurned=\"520\" activeEnergyBurnedUnit=\"Cal\" appleExerciseTime=\"34\" appleStandHours=\"10\"/>"
        );
        let (items, stats, fault) = read_all(&doc(&body));
        assert_eq!(fault, None);
        assert_eq!(items.len(), 3, "{items:?}");
        let ExportItem::Workout(w, _) = &items[0] else {
            panic!("{:?}", items[0]);
        };
        assert_eq!(w.duration_seconds, 1800);
        assert_eq!(w.workout_type.map(|t| t.code()), Some("running"));
        let d = w.details.as_ref().expect("details");
        assert_eq!(d.energy_burned, 310.5);
        assert_eq!(d.distance, Some(5200.0));
        assert_eq!(d.heart_rate_max, Some(171));
        assert_eq!(d.total_elevation_gain, Some(12.0));
        assert_eq!(stats.workout_events, 1);
        let ExportItem::Sleep(s) = &items[1] else {
            panic!("{:?}", items[1]);
        };
        assert_eq!(s.stage, SleepStage::Light);
        let ExportItem::DailyTotals(t) = &items[2] else {
            panic!("{:?}", items[2]);
        };
        assert_eq!(t.len(), 2);
        assert!(t.iter().all(|s| s.is_daily_total == Some(true)));
    }

    #[test]
    fn correlation_children_are_not_counted_twice() {
        let inner = record(
            "HKQuantityTypeIdentifierBloodPressureSystolic",
            "mmHg",
            "120",
            "2024-03-01 07:15:00 +0100",
        );
        let body = format!(
            "<Correlation type=\"HKCorrelationTypeIdentifierBloodPressure\" startDate=\"2024-03-01 07:15:00 +0100\" endDate=\"2024-03-01 07:15:00 +0100\">{inner}</Correlation>\n{inner}"
        );
        let (items, stats, fault) = read_all(&doc(&body));
        assert_eq!(fault, None);
        assert_eq!(items.len(), 1);
        assert_eq!(stats.records, 1);
    }

    #[test]
    fn a_truncated_file_yields_what_came_before_and_says_where_it_stopped() {
        let body = (0..10)
            .map(|i| {
                record(
                    "HKQuantityTypeIdentifierStepCount",
                    "count",
                    "5",
                    &format!("2024-03-01 07:{i:02}:00 +0100"),
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let full = doc(&body);
        let cut = full.find("07:07:00").expect("cut point");
        let (items, _, fault) = read_all(&full[..cut]);
        assert_eq!(items.len(), 7, "the seven complete records");
        let fault = fault.expect("a fault");
        assert!(fault.offset > 0 && fault.offset <= cut as u64, "{fault:?}");
        assert!(fault.reason.contains("truncated"), "{fault:?}");
        // Cut between two elements: the open root is the fault.
        let cut = full.find("/>\n<Record").expect("two records") + 3;
        let (_, _, fault) = read_all(&full[..cut]);
        assert!(fault.expect("a fault").reason.contains("truncated"));
    }

    #[test]
    fn malformed_and_hostile_documents_are_faults() {
        let (_, _, f) = read_all("<Other/>");
        assert!(
            f.expect("fault")
                .reason
                .contains("not an Apple Health export")
        );
        let (_, _, f) = read_all("");
        assert!(f.expect("fault").reason.contains("no HealthData"));
        let (_, _, f) = read_all(&doc("<Record type=\"x\"></Wrong>"));
        assert!(f.expect("fault").reason.contains("malformed"));
        let huge = format!("<Record type=\"{}\"/>", "x".repeat(300 * 1024));
        let (_, _, f) = read_all(&doc(&huge));
        let f = f.expect("fault");
        assert!(f.reason.contains("larger than the limit"), "{f:?}");
        let deep = "<a>".repeat(100);
        let (_, _, f) = read_all(&doc(&deep));
        assert!(f.expect("fault").reason.contains("nested"));
        let many: String = (0..100).map(|i| format!(" a{i}=\"1\"")).collect();
        let (items, stats, f) = read_all(&doc(&format!("<Record{many}/>")));
        assert!(f.is_none() && items.is_empty());
        assert_eq!(stats.dropped.get("too many attributes"), Some(&1));
        // An entity defined in the DOCTYPE is never expanded.
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE HealthData [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]><HealthData><Record type=\"&b;\"/></HealthData>";
        let (items, _, _) = read_all(bomb);
        assert!(items.is_empty());
    }

    /// A read stopped at every top-level boundary and resumed from there (the state carried
    /// through JSON, the parser primed with the root tag) yields what one straight read does,
    /// with the file's offsets.
    #[test]
    fn a_read_resumed_at_a_boundary_ends_like_a_straight_read() {
        let mut body = String::new();
        for i in 0..6 {
            body.push_str(&record(
                "HKQuantityTypeIdentifierHeartRate",
                "count/min",
                &format!("{}", 60 + i),
                &format!("2024-03-01 07:{:02}:00 +0100", i),
            ));
            body.push('\n');
        }
        body.push_str("<ActivitySummary dateComponents=\"2024-03-01\" activeEnergyBurned=\"520\" activeEnergyBurnedUnit=\"Cal\" appleExerciseTime=\"34\"/>\n");
        body.push_str(&format!(
            "<Workout workoutActivityType=\"HKWorkoutActivityTypeRunning\" sourceName=\"Watch\" device=\"{DEVICE}\" startDate=\"2024-03-01 08:00:00 +0100\" endDate=\"2024-03-01 08:30:00 +0100\">\n<WorkoutStatistics type=\"HKQuantityTypeIdentifierActiveEnergyBurned\" sum=\"310.5\" unit=\"kcal\"/>\n</Workout>\n"
        ));
        body.push_str(&record(
            "HKQuantityTypeIdentifierStepCount",
            "count",
            "12",
            "2024-03-01 09:00:00 +0100",
        ));
        // A record with children: its item comes at its start tag, inside the element.
        body.push_str(&record("HKQuantityTypeIdentifierHeartRate", "count/min", "71", "2024-03-01 09:05:00 +0100")
            .replace("/>", "><MetadataEntry key=\"HKMetadataKeyHeartRateMotionContext\" value=\"0\"/></Record>"));
        body.push_str(&record(
            "HKQuantityTypeIdentifierStepCount",
            "count",
            "13",
            "2024-03-01 09:10:00 +0100",
        ));
        let xml = doc(&body);
        let (straight, straight_stats, fault) = read_all(&xml);
        assert_eq!(fault, None);
        assert_eq!(straight.len(), 11);
        for stop_after in 1..straight.len() {
            let mut r = ExportReader::new(xml.as_bytes(), ExportLimits::default());
            let mut items = Vec::new();
            while items.len() < stop_after {
                items.push(r.next_item().expect("item").expect("some"));
            }
            while let Some(i) = r.skip_to_boundary().expect("skip") {
                items.push(i);
            }
            assert!(r.at_boundary(), "after {stop_after} items");
            let offset = r.position();
            let state: ReaderState =
                serde_json::from_str(&serde_json::to_string(&r.state()).expect("json"))
                    .expect("state");
            let rest = RESUME_PRIME
                .iter()
                .copied()
                .chain(xml.as_bytes()[offset as usize..].iter().copied())
                .collect::<Vec<u8>>();
            let mut resumed =
                ExportReader::resume(rest.as_slice(), ExportLimits::default(), offset, state);
            while let Some(i) = resumed.next_item().expect("resumed") {
                items.push(i);
            }
            assert_eq!(items, straight, "resumed after {stop_after}");
            assert_eq!(resumed.stats(), &straight_stats);
            let mut whole = ExportReader::new(xml.as_bytes(), ExportLimits::default());
            while whole.next_item().expect("item").is_some() {}
            assert_eq!(resumed.position(), whole.position());
        }
    }

    #[test]
    fn route_files_are_referenced_with_their_source_and_zone() {
        let xml = doc(&format!(
            "<Workout workoutActivityType=\"HKWorkoutActivityTypeRunning\" sourceName=\"Watch\" device=\"{DEVICE}\" startDate=\"2024-03-01 07:00:00 +0100\" endDate=\"2024-03-01 07:30:00 +0100\">\n\
             <WorkoutRoute sourceName=\"Phone\" sourceVersion=\"17.1\"><MetadataEntry key=\"k\" value=\"2\"/><FileReference path=\"/workout-routes/route_a.gpx\"/></WorkoutRoute>\n\
             <WorkoutRoute sourceName=\"Phone\"><FileReference/></WorkoutRoute>\n\
             <FileReference path=\"/not/in/a/route.gpx\"/>\n\
             </Workout>\n"
        ));
        let mut r = ExportReader::new(xml.as_bytes(), ExportLimits::default());
        while let Ok(Some(_)) = r.next_item() {}
        let routes = r.routes().to_vec();
        assert_eq!(routes.len(), 1, "{routes:?}");
        assert_eq!(routes[0].file, "route_a.gpx");
        assert_eq!(routes[0].zone.as_deref(), Some("+01:00"));
        assert_eq!(
            r.sources()[routes[0].source].source.as_deref(),
            Some("Phone")
        );
        assert_eq!(
            r.stats().dropped.get("workout route without a file path"),
            Some(&1)
        );
        assert_eq!(r.stats().workouts, 1);
    }

    #[test]
    fn gpx_track_points_become_position_samples() {
        let gpx = "<?xml version=\"1.0\"?><gpx xmlns=\"http://www.topografix.com/GPX/1/1\"><trk><trkseg>\
            <trkpt lat=\"52.52049\" lon=\"13.40951\"><ele>34.56</ele><time>2024-03-01T06:00:00Z</time></trkpt>\
            <trkpt lat=\"52.5206\" lon=\"13.4096\"><time>2024-03-01T06:00:01.5Z</time></trkpt>\
            <trkpt lat=\"95\" lon=\"13.4\"><time>2024-03-01T06:00:02Z</time></trkpt>\
            <trkpt lat=\"52.5\" lon=\"13.4\"/>\
            </trkseg></trk></gpx>";
        let mut stats = ExportStats::default();
        let mut got = Vec::new();
        let n = read_gpx(gpx.as_bytes(), 1024, 3, Some("+01:00"), &mut stats, |s| {
            got.push(s)
        })
        .expect("reads");
        assert_eq!(n, 2);
        assert_eq!(
            stats
                .dropped
                .get("route point without a valid time or position"),
            Some(&2)
        );
        let kinds: Vec<(SeriesType, f64)> = got.iter().map(|s| (s.series, s.value)).collect();
        assert_eq!(
            kinds,
            vec![
                (SeriesType::Latitude, 52.52),
                (SeriesType::Longitude, 13.41),
                (SeriesType::Elevation, 34.56),
                (SeriesType::Latitude, 52.521),
                (SeriesType::Longitude, 13.41),
            ]
        );
        assert!(
            got.iter()
                .all(|s| s.source == 3 && s.zone_offset.as_deref() == Some("+01:00"))
        );
        assert_eq!(got[3].at.timestamp_millis() % 1000, 500);
        // A cut file gives the points before the cut and says why it stopped.
        let cut = &gpx[..gpx.find("<trkpt lat=\"95").expect("third") + 9];
        let mut got = Vec::new();
        let err = read_gpx(cut.as_bytes(), 1024, 0, None, &mut stats, |s| got.push(s));
        assert!(err.is_err(), "{err:?}");
        assert_eq!(got.len(), 5);
        // An oversized event is refused.
        let big = format!("<gpx><trk><name>{}</name></trk></gpx>", "x".repeat(5000));
        assert!(read_gpx(big.as_bytes(), 1024, 0, None, &mut stats, |_| {}).is_err());
    }
}
