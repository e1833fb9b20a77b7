//! A generator of real-shaped Apple Health exports (`export.xml`, `export.zip`) with synthetic
//! data only: the Health app's element and attribute layout (the DOCTYPE preamble,
//! `ExportDate`, `Me`, `Record`s of quantity and category types with their `MetadataEntry`
//! and HRV children, `Correlation`s, `Workout`s with `WorkoutEvent`, `WorkoutStatistics`,
//! `MetadataEntry` and `WorkoutRoute`, `ActivitySummary`), HealthKit units (`lb`, `km`, `%`
//! as fractions, `mmol<…>/L`, `degF`), a DST switch of the zone offset, and what an importer
//! must skip (types without a series, correlation children). It counts what an importer
//! should store, so a test can compare what the API reads back.
//!
//! Every record's instant is distinct within its (series, source), so the expected counts are
//! exact; the size is reached by adding days.

use std::collections::BTreeMap;
use std::io::{self, Write};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

/// What to generate.
#[derive(Debug, Clone)]
pub struct ExportSpec {
    /// The first UTC day.
    pub start: NaiveDate,
    /// Days to write (when `target_bytes` is `None`).
    pub days: u32,
    /// Keep adding days until the document is at least this large.
    pub target_bytes: Option<u64>,
    /// Minutes between two heart-rate records.
    pub hr_every_minutes: u32,
}

impl Default for ExportSpec {
    fn default() -> Self {
        Self {
            start: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap_or_default(),
            days: 3,
            target_bytes: None,
            hr_every_minutes: 2,
        }
    }
}

/// What was written, as an importer should count and store it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    pub bytes: u64,
    pub days: u32,
    /// `Record` elements at the top level (correlation children excluded).
    pub records: u64,
    /// Stored samples per series code (records, workout statistics that become samples,
    /// activity-summary totals).
    pub series: BTreeMap<&'static str, u64>,
    pub workouts: u64,
    pub workout_events: u64,
    pub sleep_segments: u64,
    /// Nights (one sleep session each).
    pub nights: u64,
    pub activity_summaries: u64,
    /// Records of types an importer does not store.
    pub skipped: u64,
    /// GPX routes referenced (written into the zip only) and the start of each route's
    /// track.
    pub routes: Vec<(String, DateTime<Utc>)>,
    /// Track points per route file (each a latitude, longitude and elevation sample).
    pub route_points: u64,
}

impl Generated {
    pub fn samples(&self) -> u64 {
        self.series.values().sum()
    }
}

const WATCH: &str = "&lt;&lt;HKDevice: 0x30211b3e0&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, hardware:Watch6,2, software:10.1.1&gt;";
const PHONE: &str = "&lt;&lt;HKDevice: 0x302a4c1b0&gt;, name:iPhone, manufacturer:Apple Inc., model:iPhone, hardware:iPhone14,2, software:17.1.2&gt;";
const WATCH_NAME: &str = "Test Watch";
const PHONE_NAME: &str = "Test iPhone";

/// Counts bytes written.
struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The zone in effect at an instant: +01:00, +02:00 from the last Sunday of March 01:00 UTC
/// to the last Sunday of October 01:00 UTC (a European DST rule).
fn offset_at(t: DateTime<Utc>) -> i64 {
    use chrono::Datelike;
    let y = t.year();
    let last_sunday = |m: u32| {
        let mut d = NaiveDate::from_ymd_opt(y, m, 31).unwrap_or_default();
        while d.weekday() != chrono::Weekday::Sun {
            d -= Duration::days(1);
        }
        Utc.from_utc_datetime(&d.and_hms_opt(1, 0, 0).unwrap_or_default())
    };
    if t >= last_sunday(3) && t < last_sunday(10) {
        7200
    } else {
        3600
    }
}

/// `2024-03-01 07:15:00 +0100`.
fn date(t: DateTime<Utc>) -> String {
    let off = offset_at(t);
    let local = t + Duration::seconds(off);
    format!(
        "{} +{:02}{:02}",
        local.format("%Y-%m-%d %H:%M:%S"),
        off / 3600,
        (off % 3600) / 60
    )
}

struct Gen<'a, W: Write> {
    w: &'a mut Counting<W>,
    out: Generated,
    /// A cheap deterministic sequence for values.
    seed: u64,
    hr_step: u32,
}

impl<W: Write> Gen<'_, W> {
    fn next(&mut self) -> f64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        (self.seed % 10_000) as f64 / 10_000.0
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        kind: &str,
        series: Option<&'static str>,
        watch: bool,
        unit: &str,
        value: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        children: &str,
    ) -> io::Result<()> {
        let (name, version, device) = if watch {
            (WATCH_NAME, "10.1.1", WATCH)
        } else {
            (PHONE_NAME, "17.1.2", PHONE)
        };
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!(" unit=\"{unit}\"")
        };
        let (s, e) = (date(start), date(end));
        if children.is_empty() {
            writeln!(
                self.w,
                " <Record type=\"{kind}\" sourceName=\"{name}\" sourceVersion=\"{version}\" device=\"{device}\"{unit} creationDate=\"{e}\" startDate=\"{s}\" endDate=\"{e}\" value=\"{value}\"/>"
            )?;
        } else {
            writeln!(
                self.w,
                " <Record type=\"{kind}\" sourceName=\"{name}\" sourceVersion=\"{version}\" device=\"{device}\"{unit} creationDate=\"{e}\" startDate=\"{s}\" endDate=\"{e}\" value=\"{value}\">\n{children} </Record>"
            )?;
        }
        self.out.records += 1;
        match series {
            Some(code) => *self.out.series.entry(code).or_default() += 1,
            None if kind != "HKCategoryTypeIdentifierSleepAnalysis" => self.out.skipped += 1,
            None => {}
        }
        Ok(())
    }

    fn day(&mut self, day: NaiveDate) -> io::Result<()> {
        let t0 = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default());
        let index = self.out.days;
        let min = |m: i64| t0 + Duration::minutes(m);
        // Heart rate from the watch, every few minutes; every third one with motion context.
        let step = i64::from(self.hr_step);
        let mut m = 0;
        while m < 1440 {
            let bpm = 55.0 + 40.0 * self.next();
            let meta = if (m / step) % 3 == 0 {
                "  <MetadataEntry key=\"HKMetadataKeyHeartRateMotionContext\" value=\"0\"/>\n"
            } else {
                ""
            };
            self.record(
                "HKQuantityTypeIdentifierHeartRate",
                Some("heart_rate"),
                true,
                "count/min",
                &format!("{bpm:.0}"),
                min(m),
                min(m),
                meta,
            )?;
            m += step;
        }
        // Steps from both devices and distance from the phone, every 10 minutes in the day.
        for k in 0..96 {
            let at = min(6 * 60 + k * 10);
            let steps = (200.0 * self.next()).round() + 1.0;
            self.record(
                "HKQuantityTypeIdentifierStepCount",
                Some("steps"),
                false,
                "count",
                &format!("{steps}"),
                at,
                at + Duration::minutes(9),
                "",
            )?;
            let wsteps = (180.0 * self.next()).round() + 1.0;
            self.record(
                "HKQuantityTypeIdentifierStepCount",
                Some("steps"),
                true,
                "count",
                &format!("{wsteps}"),
                at + Duration::minutes(1),
                at + Duration::minutes(9),
                "",
            )?;
            let km = 0.15 * self.next();
            self.record(
                "HKQuantityTypeIdentifierDistanceWalkingRunning",
                Some("distance_walking_running"),
                false,
                "km",
                &format!("{km:.5}"),
                at,
                at + Duration::minutes(9),
                "",
            )?;
        }
        // Active energy every 5 minutes, basal every 15 (kcal, kJ now and then).
        for k in 0..288 {
            let at = min(k * 5);
            let kcal = 3.0 * self.next();
            self.record(
                "HKQuantityTypeIdentifierActiveEnergyBurned",
                Some("energy"),
                true,
                "kcal",
                &format!("{kcal:.3}"),
                at,
                at + Duration::minutes(5),
                "",
            )?;
        }
        for k in 0..96 {
            let at = min(k * 15);
            let kj = 60.0 + 10.0 * self.next();
            self.record(
                "HKQuantityTypeIdentifierBasalEnergyBurned",
                Some("basal_energy"),
                true,
                "kJ",
                &format!("{kj:.2}"),
                at,
                at + Duration::minutes(15),
                "",
            )?;
        }
        // Daily and occasional measurements.
        self.record(
            "HKQuantityTypeIdentifierRestingHeartRate",
            Some("resting_heart_rate"),
            true,
            "count/min",
            "54",
            min(8 * 60 + 1),
            min(8 * 60 + 1),
            "",
        )?;
        for k in 0..2 {
            let at = min(3 * 60 + k * 240 + 7);
            let beats: String = (0..5)
                .map(|b| {
                    format!(
                        "   <InstantaneousBeatsPerMinute bpm=\"{}\" time=\"3:0{b}:00.00 AM\"/>\n",
                        60 + b
                    )
                })
                .collect();
            let list = format!(
                "  <HeartRateVariabilityMetadataList>\n{beats}  </HeartRateVariabilityMetadataList>\n"
            );
            let ms = 30.0 + 40.0 * self.next();
            self.record(
                "HKQuantityTypeIdentifierHeartRateVariabilitySDNN",
                Some("heart_rate_variability_sdnn"),
                true,
                "ms",
                &format!("{ms:.3}"),
                at,
                at + Duration::minutes(1),
                &list,
            )?;
        }
        for k in 0..4 {
            let at = min(60 + k * 90 + 3);
            self.record(
                "HKQuantityTypeIdentifierRespiratoryRate",
                Some("respiratory_rate"),
                true,
                "count/min",
                "14.5",
                at,
                at,
                "",
            )?;
            let spo2 = 0.94 + 0.05 * self.next();
            self.record(
                "HKQuantityTypeIdentifierOxygenSaturation",
                Some("oxygen_saturation"),
                true,
                "%",
                &format!("{spo2:.2}"),
                at + Duration::minutes(1),
                at + Duration::minutes(1),
                "",
            )?;
        }
        for k in 0..3 {
            let at = min(9 * 60 + k * 180 + 11);
            self.record(
                "HKQuantityTypeIdentifierWalkingSpeed",
                Some("walking_speed"),
                false,
                "km/hr",
                "4.7",
                at,
                at + Duration::minutes(2),
                "",
            )?;
        }
        if index.is_multiple_of(7) {
            let lb = 150.0 + 5.0 * self.next();
            self.record(
                "HKQuantityTypeIdentifierBodyMass",
                Some("weight"),
                false,
                "lb",
                &format!("{lb:.1}"),
                min(7 * 60 + 2),
                min(7 * 60 + 2),
                "",
            )?;
        }
        if index == 0 {
            self.record(
                "HKQuantityTypeIdentifierHeight",
                Some("height"),
                false,
                "ft",
                "5.75",
                min(7 * 60 + 3),
                min(7 * 60 + 3),
                "",
            )?;
        }
        if index.is_multiple_of(3) {
            self.record(
                "HKQuantityTypeIdentifierBloodGlucose",
                Some("blood_glucose"),
                false,
                "mmol<180.15588000005408>/L",
                "5.4",
                min(12 * 60 + 5),
                min(12 * 60 + 5),
                "",
            )?;
        }
        // Types with no series: skipped by an importer.
        for k in 0..3 {
            let at = min(10 * 60 + k * 120 + 13);
            self.record(
                "HKQuantityTypeIdentifierDietaryWater",
                None,
                false,
                "mL",
                "250",
                at,
                at,
                "",
            )?;
        }
        if index.is_multiple_of(2) {
            self.record(
                "HKCategoryTypeIdentifierMindfulSession",
                None,
                false,
                "",
                "HKCategoryValueNotApplicable",
                min(20 * 60),
                min(20 * 60 + 10),
                "",
            )?;
        }
        // Blood pressure: a correlation whose children the export repeats at the top level.
        if index.is_multiple_of(5) {
            let at = min(8 * 60 + 30);
            let (s, e) = (date(at), date(at));
            let child = |kind: &str, v: &str| {
                format!(
                    "  <Record type=\"{kind}\" sourceName=\"{PHONE_NAME}\" sourceVersion=\"17.1.2\" unit=\"mmHg\" creationDate=\"{e}\" startDate=\"{s}\" endDate=\"{e}\" value=\"{v}\"/>\n"
                )
            };
            writeln!(
                self.w,
                " <Correlation type=\"HKCorrelationTypeIdentifierBloodPressure\" sourceName=\"{PHONE_NAME}\" sourceVersion=\"17.1.2\" creationDate=\"{e}\" startDate=\"{s}\" endDate=\"{e}\">\n{}{} </Correlation>",
                child("HKQuantityTypeIdentifierBloodPressureSystolic", "121"),
                child("HKQuantityTypeIdentifierBloodPressureDiastolic", "79"),
            )?;
            self.record(
                "HKQuantityTypeIdentifierBloodPressureSystolic",
                Some("blood_pressure_systolic"),
                false,
                "mmHg",
                "121",
                at,
                at,
                "",
            )?;
            self.record(
                "HKQuantityTypeIdentifierBloodPressureDiastolic",
                Some("blood_pressure_diastolic"),
                false,
                "mmHg",
                "79",
                at,
                at,
                "",
            )?;
        }
        self.night(t0)?;
        if index.is_multiple_of(2) {
            self.workout(t0, index)?;
        }
        self.summary(day)?;
        Ok(())
    }

    /// A night from 21:30 to 05:30 UTC of the next day: in bed, then stage cycles.
    fn night(&mut self, t0: DateTime<Utc>) -> io::Result<()> {
        let start = t0 + Duration::minutes(21 * 60 + 30);
        let end = start + Duration::hours(8);
        let seg = |g: &mut Self, value: &str, a: DateTime<Utc>, b: DateTime<Utc>| {
            g.out.sleep_segments += 1;
            g.record(
                "HKCategoryTypeIdentifierSleepAnalysis",
                None,
                true,
                "",
                value,
                a,
                b,
                "",
            )
        };
        seg(self, "HKCategoryValueSleepAnalysisInBed", start, end)?;
        let stages = [
            ("HKCategoryValueSleepAnalysisAsleepCore", 40),
            ("HKCategoryValueSleepAnalysisAsleepDeep", 30),
            ("HKCategoryValueSleepAnalysisAsleepCore", 20),
            ("HKCategoryValueSleepAnalysisAsleepREM", 25),
            ("HKCategoryValueSleepAnalysisAwake", 5),
        ];
        let mut at = start + Duration::minutes(10);
        while at + Duration::minutes(120) <= end {
            for (value, minutes) in stages {
                let next = at + Duration::minutes(minutes);
                seg(self, value, at, next)?;
                at = next;
            }
        }
        self.out.nights += 1;
        Ok(())
    }

    fn workout(&mut self, t0: DateTime<Utc>, index: u32) -> io::Result<()> {
        let start = t0 + Duration::minutes(17 * 60 + 3);
        let end = start + Duration::minutes(31);
        let (s, e) = (date(start), date(end));
        let kcal = 250.0 + 100.0 * self.next();
        let km = 4.0 + 2.0 * self.next();
        let route = format!(
            "/workout-routes/route_{}.gpx",
            start.format("%Y-%m-%d_%H.%M")
        );
        let kind = if index.is_multiple_of(4) {
            "HKWorkoutActivityTypeRunning"
        } else {
            "HKWorkoutActivityTypeTraditionalStrengthTraining"
        };
        writeln!(
            self.w,
            " <Workout workoutActivityType=\"{kind}\" duration=\"31\" durationUnit=\"min\" sourceName=\"{WATCH_NAME}\" sourceVersion=\"10.1.1\" device=\"{WATCH}\" creationDate=\"{e}\" startDate=\"{s}\" endDate=\"{e}\">\n\
  <MetadataEntry key=\"HKIndoorWorkout\" value=\"0\"/>\n\
  <MetadataEntry key=\"HKAverageMETs\" value=\"9.5 kcal/hr·kg\"/>\n\
  <MetadataEntry key=\"HKWeatherTemperature\" value=\"64.4 degF\"/>\n\
  <MetadataEntry key=\"HKWeatherHumidity\" value=\"6200 %\"/>\n\
  <MetadataEntry key=\"HKElevationAscended\" value=\"2310 cm\"/>\n\
  <WorkoutEvent type=\"HKWorkoutEventTypeSegment\" date=\"{s}\" duration=\"15\" durationUnit=\"min\"/>\n\
  <WorkoutEvent type=\"HKWorkoutEventTypePause\" date=\"{s}\"/>\n\
  <WorkoutEvent type=\"HKWorkoutEventTypeResume\" date=\"{s}\"/>\n\
  <WorkoutStatistics type=\"HKQuantityTypeIdentifierActiveEnergyBurned\" startDate=\"{s}\" endDate=\"{e}\" sum=\"{kcal:.3}\" unit=\"kcal\"/>\n\
  <WorkoutStatistics type=\"HKQuantityTypeIdentifierBasalEnergyBurned\" startDate=\"{s}\" endDate=\"{e}\" sum=\"41.2\" unit=\"kcal\"/>\n\
  <WorkoutStatistics type=\"HKQuantityTypeIdentifierDistanceWalkingRunning\" startDate=\"{s}\" endDate=\"{e}\" sum=\"{km:.3}\" unit=\"km\"/>\n\
  <WorkoutStatistics type=\"HKQuantityTypeIdentifierHeartRate\" startDate=\"{s}\" endDate=\"{e}\" average=\"148.2\" minimum=\"101\" maximum=\"176\" unit=\"count/min\"/>\n\
  <WorkoutRoute sourceName=\"{WATCH_NAME}\" sourceVersion=\"10.1.1\" creationDate=\"{e}\" startDate=\"{s}\" endDate=\"{e}\">\n\
   <MetadataEntry key=\"HKMetadataKeySyncVersion\" value=\"2\"/>\n\
   <FileReference path=\"{route}\"/>\n\
  </WorkoutRoute>\n\
 </Workout>"
        )?;
        self.out.workouts += 1;
        self.out.workout_events += 3;
        for code in ["average_met", "weather_temperature", "weather_humidity"] {
            *self.out.series.entry(code).or_default() += 1;
        }
        self.out.routes.push((route, start));
        self.out.route_points = ROUTE_POINTS;
        Ok(())
    }

    fn summary(&mut self, day: NaiveDate) -> io::Result<()> {
        let kcal = 400.0 + 200.0 * self.next();
        writeln!(
            self.w,
            " <ActivitySummary dateComponents=\"{}\" activeEnergyBurned=\"{kcal:.3}\" activeEnergyBurnedGoal=\"600\" activeEnergyBurnedUnit=\"Cal\" appleMoveTime=\"0\" appleMoveTimeGoal=\"0\" appleExerciseTime=\"37\" appleExerciseTimeGoal=\"30\" appleStandHours=\"11\" appleStandHoursGoal=\"12\"/>",
            day.format("%Y-%m-%d")
        )?;
        self.out.activity_summaries += 1;
        *self.out.series.entry("energy").or_default() += 1;
        *self.out.series.entry("exercise_time").or_default() += 1;
        Ok(())
    }
}

/// Writes one `export.xml`.
pub fn write_export<W: Write>(w: W, spec: &ExportSpec) -> io::Result<Generated> {
    let mut w = Counting { inner: w, n: 0 };
    let export_date = Utc.from_utc_datetime(
        &(spec.start + Duration::days(i64::from(spec.days)))
            .and_hms_opt(9, 0, 0)
            .unwrap_or_default(),
    );
    write!(
        w,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE HealthData [\n\
<!-- A synthetic export in the Health app's layout. -->\n\
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>\n\
<!ATTLIST HealthData locale CDATA #REQUIRED>\n\
<!ELEMENT ExportDate EMPTY>\n<!ATTLIST ExportDate value CDATA #REQUIRED>\n\
<!ELEMENT Me EMPTY>\n\
<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>\n\
<!ATTLIST Record type CDATA #REQUIRED unit CDATA #IMPLIED value CDATA #IMPLIED sourceName CDATA #REQUIRED startDate CDATA #REQUIRED endDate CDATA #REQUIRED>\n\
]>\n<HealthData locale=\"en_US\">\n <ExportDate value=\"{}\"/>\n <Me HKCharacteristicTypeIdentifierBiologicalSex=\"HKBiologicalSexNotSet\" HKCharacteristicTypeIdentifierBloodType=\"HKBloodTypeNotSet\"/>\n",
        date(export_date)
    )?;
    let mut g = Gen {
        w: &mut w,
        out: Generated::default(),
        seed: 0x9E37_79B9_7F4A_7C15,
        hr_step: spec.hr_every_minutes.max(1),
    };
    loop {
        let done = match spec.target_bytes {
            Some(t) => g.w.n >= t,
            None => g.out.days >= spec.days,
        };
        if done {
            break;
        }
        let day = spec.start + Duration::days(i64::from(g.out.days));
        g.day(day)?;
        g.out.days += 1;
    }
    writeln!(g.w, "</HealthData>")?;
    g.w.flush()?;
    let mut out = g.out;
    out.bytes = w.n;
    Ok(out)
}

/// A short GPX track (what the zip holds under `workout-routes/`).
/// Track points of each generated route.
pub const ROUTE_POINTS: u64 = 20;

/// A route's GPX file: a point a minute from `start` (UTC, as the Health app writes them).
fn gpx(start: DateTime<Utc>) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gpx version=\"1.1\" creator=\"Apple Health Export\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n <metadata><time>2024-03-01T17:03:00Z</time></metadata>\n <trk><name>Route</name><trkseg>\n",
    );
    for i in 0..ROUTE_POINTS as i64 {
        s.push_str(&format!(
            "  <trkpt lon=\"13.{:04}\" lat=\"52.{:04}\"><ele>34.5</ele><time>{}</time><extensions><speed>2.9</speed><course>181.2</course><hAcc>1.6</hAcc><vAcc>1.2</vAcc></extensions></trkpt>\n",
            4000 + i * 7,
            5000 + i * 3,
            (start + Duration::minutes(i)).format("%Y-%m-%dT%H:%M:%SZ")
        ));
    }
    s.push_str(" </trkseg></trk>\n</gpx>\n");
    s
}

/// Writes an `export.zip` as the Health app does: `apple_health_export/export.xml`, a clinical
/// document and the workout routes.
pub fn write_export_zip(path: &std::path::Path, spec: &ExportSpec) -> io::Result<Generated> {
    let file = std::fs::File::create(path)?;
    let mut zip = zip::ZipWriter::new(io::BufWriter::new(file));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("apple_health_export/export.xml", opts)
        .map_err(io::Error::other)?;
    let out = write_export(&mut zip, spec)?;
    zip.start_file("apple_health_export/export_cda.xml", opts)
        .map_err(io::Error::other)?;
    zip.write_all(b"<?xml version=\"1.0\"?><ClinicalDocument/>\n")?;
    for (r, start) in &out.routes {
        zip.start_file(format!("apple_health_export{r}"), opts)
            .map_err(io::Error::other)?;
        zip.write_all(gpx(*start).as_bytes())?;
    }
    zip.finish().map_err(io::Error::other)?.flush()?;
    Ok(out)
}

/// A zip bomb in the shape of an export: `export.xml` is `mb` megabytes of whitespace inside
/// a valid document, compressing about a thousandfold.
pub fn write_zip_bomb(path: &std::path::Path, mb: usize) -> io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut zip = zip::ZipWriter::new(io::BufWriter::new(file));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("apple_health_export/export.xml", opts)
        .map_err(io::Error::other)?;
    zip.write_all(b"<?xml version=\"1.0\"?>\n<HealthData locale=\"en_US\">")?;
    let blank = vec![b' '; 1024 * 1024];
    for _ in 0..mb {
        zip.write_all(&blank)?;
    }
    zip.write_all(b"</HealthData>\n")?;
    zip.finish().map_err(io::Error::other)?.flush()?;
    Ok(())
}
