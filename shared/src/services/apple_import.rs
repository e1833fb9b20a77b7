//! Imports an Apple Health export (`export.xml`, or `export.zip` holding it) for one user:
//! the domain's pull parser runs on a blocking thread and hands batches of items over a
//! bounded channel to the one write path ([`write_batch`]), so roll-ups, sleep sessions,
//! scores, counters and outgoing webhooks follow as for SDK pushes. Memory stays constant
//! whatever the file size: at most [`CHANNEL_BATCHES`] batches of [`BATCH_ITEMS`] items are in
//! flight. The run is a sync run of the user (source `apple_xml`, provider `apple`): started,
//! progress after every batch (records read, bytes), and a final summary.
//!
//! A fault of the file (malformed, truncated, over a bound, a zip bomb) stops the import where
//! it occurred: everything before it is stored and the summary says at which byte it stopped.
//! Re-importing adds nothing: samples are keyed by (source, series, instant), workouts by
//! (source, start, end), and sleep segments rebuild the same sessions.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};
use uuid::Uuid;

use crate::app::AppState;
use crate::config::AppleImportSettings;
use crate::domain::apple_export::{
    ExportFault, ExportItem, ExportLimits, ExportReader, ExportStats,
};
use crate::domain::sdk::{ParsedBatch, SourceInfo};
use crate::domain::states::{SyncStage, SyncStatus};
use crate::ingest::{data_source_for, device_batch, touch_sdk_connection, write_batch};
use crate::repo::health::SampleWrite;
use crate::repo::sync_runs::SyncRun;
use crate::store::StoreError;

/// The sync-status source of an import.
pub const SOURCE: &str = "apple_xml";
/// Items per write.
pub const BATCH_ITEMS: usize = 20_000;
/// Batches parsed ahead of the writer.
pub const CHANNEL_BATCHES: usize = 2;
/// Read buffer of the file.
const READ_BUFFER: usize = 256 * 1024;

/// What an import did (the final sync event's metadata and the benchmark's figures).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// `completed` (the whole document), `stopped` (a fault of the file; what came before it
    /// is stored) or `failed` (storage failed).
    pub status: String,
    /// `xml` or `zip`.
    pub format: String,
    /// Bytes of the upload.
    pub file_bytes: u64,
    /// Bytes of XML read.
    pub xml_bytes: u64,
    pub records: u64,
    pub samples: u64,
    /// Samples at instants not stored before.
    pub new_samples: u64,
    pub workouts: u64,
    /// Workouts not stored before.
    pub workouts_saved: u64,
    pub workout_events: u64,
    pub sleep_segments: u64,
    pub activity_summaries: u64,
    pub skipped: u64,
    pub skipped_types: BTreeMap<String, u64>,
    pub dropped: u64,
    pub dropped_reasons: BTreeMap<String, u64>,
    /// The XML byte offset where the import stopped, when it did.
    pub stopped_at: Option<u64>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

impl ImportSummary {
    fn absorb(&mut self, s: &ExportStats) {
        self.records = s.records;
        self.samples = s.samples;
        self.workouts = s.workouts;
        self.workout_events = s.workout_events;
        self.sleep_segments = s.sleep_segments;
        self.activity_summaries = s.activity_summaries;
        self.skipped = s.skipped_total();
        self.skipped_types = s.skipped.clone();
        self.dropped = s.dropped_total();
        self.dropped_reasons = s.dropped.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    }

    /// One line for the sync run's message.
    pub fn message(&self) -> String {
        let head = match self.status.as_str() {
            "completed" => "Apple Health import completed".to_string(),
            "stopped" => format!(
                "Apple Health import stopped at byte {}",
                self.stopped_at.unwrap_or(0)
            ),
            _ => "Apple Health import failed".to_string(),
        };
        format!(
            "{head}: {} records ({} new samples), {} workouts ({} new), {} sleep segments, {} skipped, {} dropped",
            self.records,
            self.new_samples,
            self.workouts,
            self.workouts_saved,
            self.sleep_segments,
            self.skipped,
            self.dropped
        )
    }
}

/// The per-process bound on imports running at once.
pub fn slots(settings: &AppleImportSettings) -> Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS
        .get_or_init(|| Arc::new(Semaphore::new(settings.concurrency)))
        .clone()
}

/// The run a new import is recorded under (queued until it starts).
pub fn queued_run(user: Uuid, run_id: &str, now: DateTime<Utc>) -> SyncRun {
    SyncRun {
        run_id: run_id.to_string(),
        user_id: user,
        provider: "apple".into(),
        source: SOURCE.into(),
        stage: SyncStage::Queued,
        status: SyncStatus::InProgress,
        message: Some("Apple Health import queued".into()),
        error: None,
        progress: Some(0.0),
        items_processed: Some(0),
        items_total: None,
        primary_user_id: None,
        window_start: None,
        window_end: None,
        attempts: 0,
        next_attempt_at: None,
        started_at: Some(now),
        ended_at: None,
        last_update: now,
    }
}

/// One parsed batch.
struct Parsed {
    items: Vec<ExportItem>,
    /// The source table when it grew since the previous batch.
    sources: Option<Vec<SourceInfo>>,
    xml_bytes: u64,
    stats: ExportStats,
}

/// The end of the parse.
struct Ended {
    fault: Option<ExportFault>,
    xml_bytes: u64,
    stats: ExportStats,
}

enum Msg {
    Batch(Parsed),
    End(Ended),
}

/// Imports the file at `path` for `user` under the run `run_id` (recorded with
/// [`queued_run`] before). Never fails: the outcome is the summary, also recorded as the
/// run's last event.
pub async fn import_file(state: &AppState, user: Uuid, path: &Path, run_id: &str) -> ImportSummary {
    let started = std::time::Instant::now();
    let now = state.now();
    let mut run = match state.db.sync_run(user, run_id).await {
        Ok(Some(r)) => r,
        _ => queued_run(user, run_id, now),
    };
    run.stage = SyncStage::Fetching;
    run.message = Some("Apple Health import running".into());
    run.last_update = now;
    if let Err(e) = state
        .db
        .record_sync(&run, json!({"phase": "started"}))
        .await
    {
        tracing::warn!(error = %e, "import start not recorded");
    }
    super::webhooks::sync_changed_with(state, &run, true, json!({"run_id": run_id})).await;

    let file_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut summary = ImportSummary {
        file_bytes,
        ..ImportSummary::default()
    };
    let settings = state.config.apple_import.clone();
    let (tx, mut rx) = mpsc::channel::<Msg>(CHANNEL_BATCHES);
    let owned_path = path.to_path_buf();
    let format = match sniff(path) {
        Ok(f) => f,
        Err(e) => {
            summary.status = "stopped".into();
            summary.stopped_at = Some(0);
            summary.error = Some(format!("the upload cannot be read: {e}"));
            return finish(state, run, summary, started).await;
        }
    };
    summary.format = format.to_string();
    let parser =
        tokio::task::spawn_blocking(move || parse_file(&owned_path, format, &settings, tx));

    let mut total = Totals::default();
    let mut sources: Vec<SourceInfo> = Vec::new();
    let mut store_error: Option<StoreError> = None;
    let mut end: Option<Ended> = None;
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Batch(p) => {
                if let Some(s) = p.sources {
                    sources = s;
                }
                match store(state, user, &sources, p.items).await {
                    Ok(t) => total.add(&t),
                    Err(e) => {
                        // Dropping the receiver stops the parser.
                        store_error = Some(e);
                        break;
                    }
                }
                summary.absorb(&p.stats);
                summary.xml_bytes = p.xml_bytes;
                run.items_processed = Some(p.stats.records as i64);
                run.progress = progress(p.xml_bytes, file_bytes, format);
                run.last_update = state.now();
                let meta = json!({"records": p.stats.records, "workouts": p.stats.workouts,
                    "sleep_segments": p.stats.sleep_segments, "xml_bytes": p.xml_bytes});
                if let Err(e) = state.db.record_sync(&run, meta).await {
                    tracing::warn!(error = %e, "import progress not recorded");
                }
            }
            Msg::End(e) => end = Some(e),
        }
    }
    drop(rx);
    if let Err(e) = parser.await {
        tracing::error!(error = %e, "the import parser ended abnormally");
    }
    summary.new_samples = total.new_samples;
    summary.workouts_saved = total.workouts_saved;
    if let Some(e) = end {
        summary.absorb(&e.stats);
        summary.xml_bytes = e.xml_bytes;
        if let Some(f) = e.fault {
            summary.status = "stopped".into();
            summary.stopped_at = Some(f.offset);
            summary.error = Some(f.to_string());
        }
    } else if store_error.is_none() {
        summary.status = "stopped".into();
        summary.error = Some("the parser ended without a result".into());
    }
    if let Some(e) = store_error {
        summary.status = "failed".into();
        summary.error = Some(format!("storage failed: {e}"));
    }
    if summary.status.is_empty() {
        summary.status = "completed".into();
    }
    if total.wrote_any
        && let Err(e) =
            touch_sdk_connection(state, user, crate::domain::provider::Provider::Apple).await
    {
        tracing::warn!(error = %e, "apple connection not updated after the import");
    }
    finish(state, run, summary, started).await
}

async fn finish(
    state: &AppState,
    mut run: SyncRun,
    mut summary: ImportSummary,
    started: std::time::Instant,
) -> ImportSummary {
    summary.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let now = state.now();
    let ok = summary.status == "completed";
    run.stage = if ok {
        SyncStage::Completed
    } else {
        SyncStage::Failed
    };
    run.status = if ok {
        SyncStatus::Success
    } else {
        SyncStatus::Failed
    };
    run.message = Some(summary.message());
    run.error = summary.error.clone();
    run.items_processed = Some(summary.records as i64);
    run.progress = Some(1.0);
    run.ended_at = Some(now);
    run.last_update = now;
    let meta = serde_json::to_value(&summary).unwrap_or_default();
    if let Err(e) = state.db.record_sync(&run, meta.clone()).await {
        tracing::error!(error = %e, "import summary not recorded");
    }
    super::webhooks::sync_changed_with(state, &run, false, meta).await;
    tracing::info!(user = %run.user_id, run = run.run_id, status = summary.status,
        records = summary.records, new_samples = summary.new_samples,
        workouts = summary.workouts, sleep = summary.sleep_segments,
        dropped = summary.dropped, ms = summary.elapsed_ms, "apple health import finished");
    summary
}

fn progress(xml_bytes: u64, file_bytes: u64, format: &str) -> Option<f64> {
    (format == "xml" && file_bytes > 0).then(|| (xml_bytes as f64 / file_bytes as f64).min(1.0))
}

#[derive(Debug, Default)]
struct Totals {
    new_samples: u64,
    workouts_saved: u64,
    wrote_any: bool,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.new_samples += o.new_samples;
        self.workouts_saved += o.workouts_saved;
        self.wrote_any |= o.wrote_any;
    }
}

/// Stores one batch through the one write path.
async fn store(
    state: &AppState,
    user: Uuid,
    sources: &[SourceInfo],
    items: Vec<ExportItem>,
) -> Result<Totals, StoreError> {
    let now = state.now();
    let mut parsed = ParsedBatch::default();
    let mut plain: Vec<(usize, crate::domain::apple_export::ExportSample)> = Vec::new();
    for item in items {
        match item {
            ExportItem::Sample(s) => plain.push((s.source, s)),
            ExportItem::DailyTotals(v) => plain.extend(v.into_iter().map(|s| (s.source, s))),
            ExportItem::Sleep(seg) => parsed.sleep_segments.push(*seg),
            ExportItem::Workout(w, samples) => {
                parsed.samples.extend(samples);
                parsed.workouts.push(*w);
            }
        }
    }
    if plain.is_empty() && parsed.workouts.is_empty() && parsed.sleep_segments.is_empty() {
        return Ok(Totals::default());
    }
    let mut batch = device_batch(user, parsed, now);
    let used: BTreeSet<usize> = plain.iter().map(|(i, _)| *i).collect();
    let mut ids = BTreeMap::new();
    for i in used {
        let Some(info) = sources.get(i) else { continue };
        let ds = data_source_for(user, info, now);
        ids.insert(i, ds.id);
        if !batch.sources.iter().any(|s| s.id == ds.id) {
            batch.sources.push(ds);
        }
    }
    batch.samples.extend(plain.into_iter().filter_map(|(i, s)| {
        Some(SampleWrite {
            series: s.series,
            data_source_id: *ids.get(&i)?,
            at: s.at,
            value: s.value,
            zone_offset: s.zone_offset,
            is_daily_total: s.is_daily_total,
        })
    }));
    let out = write_batch(state, user, batch).await?;
    Ok(Totals {
        new_samples: out.new_samples.values().sum::<usize>() as u64,
        workouts_saved: out
            .new_events
            .iter()
            .filter(|e| e.category == "workout")
            .count() as u64,
        wrote_any: true,
    })
}

/// `zip` when the file starts with a zip local header, else `xml`.
fn sniff(path: &Path) -> std::io::Result<&'static str> {
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic)?;
    Ok(if n == 4 && magic == *b"PK\x03\x04" {
        "zip"
    } else {
        "xml"
    })
}

/// The blocking half: reads the file and sends batches until the end or a fault.
fn parse_file(path: &Path, format: &str, settings: &AppleImportSettings, tx: mpsc::Sender<Msg>) {
    let end = |fault: ExportFault| Ended {
        fault: Some(fault),
        xml_bytes: 0,
        stats: ExportStats::default(),
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let _ = tx.blocking_send(Msg::End(end(ExportFault {
                offset: 0,
                reason: format!("the upload cannot be read: {e}"),
            })));
            return;
        }
    };
    if format == "xml" {
        run_reader(BufReader::with_capacity(READ_BUFFER, file), &tx);
        return;
    }
    let mut archive = match zip::ZipArchive::new(file) {
        Ok(a) => a,
        Err(e) => {
            let _ = tx.blocking_send(Msg::End(end(ExportFault {
                offset: 0,
                reason: format!("not a readable zip archive: {e}"),
            })));
            return;
        }
    };
    let entry = match export_entry(&mut archive, settings) {
        Ok(i) => i,
        Err(reason) => {
            let _ = tx.blocking_send(Msg::End(end(ExportFault { offset: 0, reason })));
            return;
        }
    };
    match archive.by_index(entry) {
        Ok(f) => {
            let declared = f.size();
            let limited = Capped {
                inner: f,
                left: declared,
            };
            run_reader(BufReader::with_capacity(READ_BUFFER, limited), &tx);
        }
        Err(e) => {
            let _ = tx.blocking_send(Msg::End(end(ExportFault {
                offset: 0,
                reason: format!("export.xml cannot be read from the archive: {e}"),
            })));
        }
    }
}

/// The index of `export.xml` in the archive, after the size and ratio checks.
fn export_entry<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    settings: &AppleImportSettings,
) -> Result<usize, String> {
    let mut found = None;
    for i in 0..archive.len() {
        let Some(Ok(name)) = archive.name_for_index(i) else {
            continue;
        };
        let base = name.rsplit('/').next().unwrap_or(&name);
        let depth = name.matches('/').count();
        if base == "export.xml" && found.is_none_or(|(_, d)| depth < d) {
            found = Some((i, depth));
        }
    }
    let Some((i, _)) = found else {
        return Err("the archive holds no export.xml".into());
    };
    let meta = archive
        .by_index_raw(i)
        .map_err(|e| format!("export.xml cannot be read from the archive: {e}"))?;
    let (size, packed) = (meta.size(), meta.compressed_size());
    if size > settings.max_xml_bytes {
        return Err(format!(
            "export.xml is {size} bytes uncompressed, over the limit of {} bytes",
            settings.max_xml_bytes
        ));
    }
    if size > 1024 * 1024 && size / packed.max(1) > settings.max_ratio {
        return Err(format!(
            "export.xml expands {}:1 (over the limit of {}:1): refused as a zip bomb",
            size / packed.max(1),
            settings.max_ratio
        ));
    }
    Ok(i)
}

/// A reader that ends with an error past the entry's declared size (a lying header).
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more than declared is a lie: look for it.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "export.xml is larger than its zip header declares",
                )),
            };
        }
        let want = out
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut out[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

fn run_reader<R: BufRead>(input: R, tx: &mpsc::Sender<Msg>) {
    let mut reader = ExportReader::new(input, ExportLimits::default());
    let mut items = Vec::with_capacity(BATCH_ITEMS);
    let mut sent_sources = 0usize;
    let fault = loop {
        match reader.next_item() {
            Ok(Some(item)) => {
                items.push(item);
                if items.len() >= BATCH_ITEMS {
                    let grown = reader.sources().len() > sent_sources;
                    sent_sources = reader.sources().len();
                    let msg = Msg::Batch(Parsed {
                        items: std::mem::replace(&mut items, Vec::with_capacity(BATCH_ITEMS)),
                        sources: grown.then(|| reader.sources().to_vec()),
                        xml_bytes: reader.position(),
                        stats: reader.stats().clone(),
                    });
                    if tx.blocking_send(msg).is_err() {
                        return;
                    }
                }
            }
            Ok(None) => break None,
            Err(f) => break Some(f),
        }
    };
    if !items.is_empty() {
        let grown = reader.sources().len() > sent_sources;
        let msg = Msg::Batch(Parsed {
            items,
            sources: grown.then(|| reader.sources().to_vec()),
            xml_bytes: reader.position(),
            stats: reader.stats().clone(),
        });
        if tx.blocking_send(msg).is_err() {
            return;
        }
    }
    let _ = tx.blocking_send(Msg::End(Ended {
        fault,
        xml_bytes: reader.position(),
        stats: reader.stats().clone(),
    }));
}
