//! Charts drawn on the server as inline SVG: bars, stacked bars and a line. Every mark carries
//! its number (`data-value`) and a `<title>` tooltip, and each chart has a table of the same
//! numbers behind a disclosure, for screen readers and for tests.

use maud::{Markup, html};

const W: f64 = 800.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
}

/// A number as the charts print it (no trailing `.0`, at most one decimal).
pub fn num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// A number exactly as the API gave it (for `data-value`: what tests and scripts read).
fn exact(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// A round upper bound for the y axis.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(max.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if max <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

fn axes(top: f64) -> Markup {
    let plot_h = H - TOP - BOTTOM;
    html! {
        @for i in 0..=2 {
            @let y = TOP + plot_h * (f64::from(i) / 2.0);
            @let v = top * (1.0 - f64::from(i) / 2.0);
            line class="grid" x1=(LEFT) x2=(W - RIGHT) y1=(y) y2=(y) {}
            text class="tick" x=(LEFT - 4.0) y=(y + 4.0) text-anchor="end" { (num(v)) }
        }
    }
}

/// Labels under at most ~8 evenly spaced bars.
fn x_labels(labels: &[&str], slot: f64) -> Markup {
    let every = (labels.len() / 8).max(1);
    html! {
        @for (i, l) in labels.iter().enumerate() {
            @if i % every == 0 {
                text class="tick" x=(LEFT + slot * (i as f64 + 0.5)) y=(H - 6.0) text-anchor="middle" { (l) }
            }
        }
    }
}

/// A bar chart.
pub fn bars(id: &str, caption: &str, unit: &str, bars: &[Bar]) -> Markup {
    if bars.is_empty() {
        return empty(caption);
    }
    let top = nice_max(bars.iter().map(|b| b.value).fold(0.0, f64::max));
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / bars.len() as f64;
    let gap = (slot * 0.2).min(4.0);
    let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
    html! {
        figure.chart id=(id) {
            figcaption id={(id) "-cap"} { (caption) }
            svg viewBox={"0 0 " (W) " " (H)} role="img" aria-labelledby={(id) "-cap"} data-count=(bars.len()) {
                (axes(top))
                @for (i, b) in bars.iter().enumerate() {
                    @let h = (b.value.max(0.0) / top) * plot_h;
                    rect class="bar" x=(LEFT + slot * i as f64 + gap / 2.0) y=(TOP + plot_h - h)
                        width=((slot - gap).max(0.5)) height=(h)
                        data-label=(b.label) data-value=(exact(b.value)) {
                        title { (b.label) ": " (num(b.value)) " " (unit) }
                    }
                }
                (x_labels(&labels, slot))
            }
            (table_of(caption, &[unit], bars.iter().map(|b| (b.label.clone(), vec![b.value]))))
        }
    }
}

/// One series of a stacked chart: its name and CSS class.
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'a str,
}

/// A stacked bar chart: one bar per row, one segment per series.
pub fn stacked(
    id: &str,
    caption: &str,
    unit: &str,
    series: &[Series<'_>],
    rows: &[(String, Vec<f64>)],
) -> Markup {
    if rows.is_empty() {
        return empty(caption);
    }
    let top = nice_max(
        rows.iter()
            .map(|(_, v)| v.iter().map(|x| x.max(0.0)).sum::<f64>())
            .fold(0.0, f64::max),
    );
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / rows.len() as f64;
    let gap = (slot * 0.2).min(4.0);
    let labels: Vec<&str> = rows.iter().map(|(l, _)| l.as_str()).collect();
    let names: Vec<&str> = series.iter().map(|s| s.name).collect();
    html! {
        figure.chart id=(id) {
            figcaption id={(id) "-cap"} { (caption) }
            ul.legend {
                @for s in series { li { span class={"swatch " (s.class)} {} (s.name) } }
            }
            svg viewBox={"0 0 " (W) " " (H)} role="img" aria-labelledby={(id) "-cap"} data-count=(rows.len()) {
                (axes(top))
                @for (i, (label, values)) in rows.iter().enumerate() {
                    @for ((s, v), (y, h)) in series.iter().zip(values).zip(stack(values, top, plot_h)) {
                        rect class={"seg " (s.class)} x=(LEFT + slot * i as f64 + gap / 2.0) y=(y)
                            width=((slot - gap).max(0.5)) height=(h)
                            data-label=(label) data-series=(s.name) data-value=(exact(*v)) {
                            title { (label) " " (s.name) ": " (num(*v)) " " (unit) }
                        }
                    }
                }
                (x_labels(&labels, slot))
            }
            (table_of(caption, &names, rows.iter().cloned()))
        }
    }
}

/// A line chart over time-ordered points (`label`, value).
pub fn line(id: &str, caption: &str, unit: &str, points: &[(String, f64)]) -> Markup {
    if points.is_empty() {
        return empty(caption);
    }
    let lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let top = nice_max(hi);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let step = if points.len() > 1 {
        plot_w / (points.len() - 1) as f64
    } else {
        0.0
    };
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            format!(
                "{:.1},{:.1}",
                LEFT + step * i as f64,
                TOP + plot_h - (v.max(0.0) / top) * plot_h
            )
        })
        .collect();
    let labels: Vec<&str> = points.iter().map(|p| p.0.as_str()).collect();
    let slot = plot_w / points.len() as f64;
    html! {
        figure.chart id=(id) {
            figcaption id={(id) "-cap"} { (caption) " (min " (num(lo)) ", max " (num(hi)) " " (unit) ")" }
            svg viewBox={"0 0 " (W) " " (H)} role="img" aria-labelledby={(id) "-cap"}
                data-count=(points.len()) data-min=(num(lo)) data-max=(num(hi)) {
                (axes(top))
                polyline class="line" points=(path.join(" ")) {}
                (x_labels(&labels, slot))
            }
            @if points.len() <= 400 {
                (table_of(caption, &[unit], points.iter().map(|(l, v)| (l.clone(), vec![*v]))))
            }
        }
    }
}

/// The (y, height) of each segment of one stacked bar, bottom up.
fn stack(values: &[f64], top: f64, plot_h: f64) -> Vec<(f64, f64)> {
    let mut y = TOP + plot_h;
    values
        .iter()
        .map(|v| {
            let h = (v.max(0.0) / top) * plot_h;
            y -= h;
            (y, h)
        })
        .collect()
}

fn empty(caption: &str) -> Markup {
    html! {
        figure.chart.empty {
            figcaption { (caption) }
            p.muted { "No data in this range." }
        }
    }
}

fn table_of(
    caption: &str,
    columns: &[&str],
    rows: impl Iterator<Item = (String, Vec<f64>)>,
) -> Markup {
    html! {
        details.numbers {
            summary { "Numbers: " (caption) }
            table {
                thead { tr { th scope="col" { "" } @for c in columns { th scope="col" { (c) } } } }
                tbody {
                    @for (label, values) in rows {
                        tr { th scope="row" { (label) } @for v in values { td { (num(v)) } } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_carry_their_numbers_and_scale_to_a_round_top() {
        let b = vec![
            Bar {
                label: "05-01".into(),
                value: 8123.0,
            },
            Bar {
                label: "05-02".into(),
                value: 0.0,
            },
        ];
        let svg = bars("steps", "Steps", "steps", &b).into_string();
        assert!(
            svg.contains(r#"data-label="05-01" data-value="8123""#),
            "{svg}"
        );
        assert!(svg.contains(r#"data-value="0""#));
        assert!(svg.contains(">10000<"), "the axis tops at 10000: {svg}");
        assert_eq!(nice_max(8123.0), 10000.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(180.0), 200.0);
    }

    #[test]
    fn stacked_segments_add_up_and_lines_report_their_range() {
        let s = [
            Series {
                name: "deep",
                class: "deep",
            },
            Series {
                name: "rem",
                class: "rem",
            },
        ];
        let svg = stacked(
            "st",
            "Stages",
            "min",
            &s,
            &[("n1".into(), vec![60.0, 90.5])],
        )
        .into_string();
        assert!(
            svg.contains(r#"data-series="deep" data-value="60""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"data-series="rem" data-value="90.5""#),
            "{svg}"
        );
        let l = line("hr", "HR", "bpm", &[("a".into(), 50.0), ("b".into(), 71.0)]).into_string();
        assert!(
            l.contains(r#"data-count="2" data-min="50" data-max="71""#),
            "{l}"
        );
        assert!(
            bars("x", "Nothing", "", &[])
                .into_string()
                .contains("No data")
        );
    }

    #[test]
    fn labels_are_escaped() {
        let svg = bars(
            "x",
            "<b>",
            "",
            &[Bar {
                label: "<script>".into(),
                value: 1.0,
            }],
        )
        .into_string();
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
    }
}
