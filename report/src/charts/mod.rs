//! Charts, one file per kind, all drawn as SVG by a line-chart and a grouped-bar helper. Plot errors are
//! returned, never unwrapped.

mod cost;
mod cpu;
mod idle;
mod propagation;
mod reliability;
mod single;
mod spectrum;
mod sweep;
mod timeline;

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::load::Run;

/// A chart written to disk: its file and what it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub file: PathBuf,
    pub title: String,
    /// The results files its numbers came from.
    pub sources: Vec<String>,
}

/// Draws every chart the run has data for into `dir`.
pub fn draw_all(run: &Run, dir: &Path) -> anyhow::Result<Vec<Chart>> {
    std::fs::create_dir_all(dir)?;
    let mut charts = Vec::new();
    for scenario in [
        herd_records::Scenario::Iamat,
        herd_records::Scenario::Whatsat,
    ] {
        charts.extend(spectrum::draw(run, dir, scenario)?);
    }
    charts.extend(sweep::draw(run, dir)?);
    charts.extend(idle::draw(run, dir)?);
    charts.extend(cpu::draw(run, dir)?);
    charts.extend(cost::draw(run, dir)?);
    charts.extend(single::draw(run, dir)?);
    charts.extend(propagation::draw(run, dir)?);
    charts.extend(timeline::draw(run, dir)?);
    charts.extend(reliability::draw(run, dir)?);
    Ok(charts)
}

/// One named line of points.
pub(crate) type Series = (String, Vec<(f64, f64)>);

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scale {
    /// Linear from zero (or below, if the data are): for sizes.
    Linear,
    /// Linear, fitted to the data: for changes around a level far from zero.
    Fitted,
    Log10,
}

impl Scale {
    fn map(self, v: f64) -> f64 {
        match self {
            Scale::Linear | Scale::Fitted => v,
            Scale::Log10 => v.max(1e-9).log10(),
        }
    }

    fn label(self, v: f64) -> String {
        let value = match self {
            Scale::Linear | Scale::Fitted => v,
            Scale::Log10 => 10f64.powf(v),
        };
        if value == value.round() {
            format!("{value:.0}")
        } else if value.abs() >= 100.0 {
            format!("{value:.1}")
        } else {
            format!("{value:.2}")
        }
    }
}

pub(crate) struct Axes<'a> {
    pub title: &'a str,
    pub x: (&'a str, Scale),
    pub y: (&'a str, Scale),
}

/// A point to call out on a line chart: series `series`'s colour, drawn as a large ring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Mark {
    pub series: usize,
    pub at: (f64, f64),
}

/// Draws `series` as lines with points into an SVG file.
pub(crate) fn line_chart(path: &Path, axes: &Axes<'_>, series: &[Series]) -> anyhow::Result<()> {
    marked_line_chart(path, axes, series, &[], "")
}

/// Draws `series` as lines with points, and each of `marks` as a ring in its series' colour
/// (named `marks_label` in the legend).
pub(crate) fn marked_line_chart(
    path: &Path,
    axes: &Axes<'_>,
    series: &[Series],
    marks: &[Mark],
    marks_label: &str,
) -> anyhow::Result<()> {
    let mapped: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, pts)| {
            (
                name.clone(),
                pts.iter()
                    .map(|&(x, y)| (axes.x.1.map(x), axes.y.1.map(y)))
                    .collect(),
            )
        })
        .collect();
    let all = mapped.iter().flat_map(|(_, p)| p.iter().copied());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in all {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = |lo: f64, hi: f64| {
        let span = (hi - lo).abs().max(1e-6);
        (lo - span * 0.05, hi + span * 0.05)
    };
    let ((x0, x1), (y0, y1)) = (
        pad(x0, x1),
        pad(
            if axes.y.1 == Scale::Linear {
                y0.min(0.0)
            } else {
                y0
            },
            y1,
        ),
    );
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(axes.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (xs, ys) = (axes.x.1, axes.y.1);
    chart
        .configure_mesh()
        .x_desc(axes.x.0)
        .y_desc(axes.y.0)
        .x_label_formatter(&|v| xs.label(*v))
        .y_label_formatter(&|v| ys.label(*v))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (i, (name, points)) in mapped.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if !marks.is_empty() {
        let ring = |m: &Mark| {
            let color = Palette99::pick(m.series).to_rgba();
            Circle::new(
                (axes.x.1.map(m.at.0), axes.y.1.map(m.at.1)),
                9,
                color.stroke_width(3),
            )
        };
        chart
            .draw_series(marks.iter().map(ring))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(marks_label)
            .legend(|(x, y)| Circle::new((x + 9, y), 6, BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// One named set of bars, one value per group (`None`: not measured, no bar).
pub(crate) type Bars = (String, Vec<Option<f64>>);

/// Draws bars grouped by category (one group per name in `groups`, one bar per series in
/// each) into an SVG file. The x axis is labelled with the group names.
pub(crate) fn grouped_bars(
    path: &Path,
    title: &str,
    y_desc: &str,
    groups: &[String],
    series: &[Bars],
) -> anyhow::Result<()> {
    grouped_bars_with_targets(path, title, ("scenario", y_desc), groups, series, &[])
}

/// As [`grouped_bars`], with `(x, y)` axis descriptions and target lines: each a label and,
/// per group, the value a dark line is drawn at across that group (`None`: no line there).
pub(crate) fn grouped_bars_with_targets(
    path: &Path,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    groups: &[String],
    series: &[Bars],
    targets: &[Bars],
) -> anyhow::Result<()> {
    let top = series
        .iter()
        .chain(targets)
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let n = groups.len().max(1);
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..top)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Labels only at the group centres (the integers).
    let name = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 {
            groups.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&name)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let width = 0.8 / series.len().max(1) as f64;
    for (j, (label, values)) in series.iter().enumerate() {
        let color = Palette99::pick(j).to_rgba();
        let left = |i: usize| i as f64 - 0.4 + j as f64 * width;
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                v.map(|v| Rectangle::new([(left(i), 0.0), (left(i) + width, v)], color.filled()))
            }))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    for (j, (label, values)) in targets.iter().enumerate() {
        // Dark and distinct from the bars: black, then dark grey.
        let color = if j == 0 {
            BLACK
        } else {
            RGBColor(110, 110, 110)
        };
        let style = color.stroke_width(2);
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                v.map(|v| PathElement::new(vec![(i as f64 - 0.45, v), (i as f64 + 0.45, v)], style))
            }))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// A backend's name in a chart legend: a backend in another language is marked as a
/// reference, as in the tables.
pub(crate) fn legend(b: &herd_records::BackendInfo) -> String {
    if b.language == crate::stats::RECOMMENDED_LANGUAGE {
        b.name.clone()
    } else {
        format!("{} ({}, reference)", b.name, b.language)
    }
}

#[cfg(test)]
mod tests {
    use super::Scale;

    #[test]
    fn tick_labels_keep_the_digits_that_tell_ticks_apart() {
        let label = |s: Scale, v: f64| s.label(s.map(v));
        assert_eq!(label(Scale::Fitted, 100.5), "100.5");
        assert_eq!(label(Scale::Fitted, 105.0), "105");
        assert_eq!(label(Scale::Linear, 1500.0), "1500");
        assert_eq!(label(Scale::Linear, 0.25), "0.25");
        assert_eq!(label(Scale::Log10, 1000.0), "1000");
    }
}
