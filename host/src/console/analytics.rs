//! The analytics page: the funnel, reply rate per follow-up step, and sends per account
//! and day against the cap, from the local database (no telemetry), drawn on the server as
//! SVG so the charts read without JavaScript. The numbers are `outreach stats`'s.

use axum::Router;
use axum::extract::State;
use axum::response::{Html, Response};
use axum::routing::get;

use super::pages::{self, escape};
use super::{Console, Session, shown};
use crate::clock::format;
use crate::operator::report::{self, DAYS, Stats, percent, rate};

pub fn routes() -> Router<Console> {
    Router::new().route("/console/analytics", get(page))
}

async fn page(State(console): State<Console>, session: Session) -> Response {
    let now = console.clock.now();
    let sending = console.sending.clone();
    let stats = console
        .read_blocking(move |c| report::gather(c, &sending, now))
        .await;
    shown("analytics", stats.map(|s| render(&session, &s)))
}

/// One bar: its label, its value, the limit it is drawn against (a cap), and the text
/// beside it.
struct Bar {
    label: String,
    value: f64,
    limit: Option<f64>,
    caption: String,
}

const WIDTH: f64 = 700.0;
const LABEL: f64 = 210.0;
const CAPTION: f64 = 150.0;
const ROW: f64 = 26.0;

/// A horizontal bar chart, scaled to the largest value or limit; a limit is a red tick.
fn bar_chart(title: &str, bars: &[Bar]) -> String {
    if bars.is_empty() {
        return format!("<p>{}: nothing yet.</p>", escape(title));
    }
    let scale_max = bars
        .iter()
        .flat_map(|b| [b.value, b.limit.unwrap_or(0.0)])
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let span = WIDTH - LABEL - CAPTION;
    let height = ROW * bars.len() as f64 + 8.0;
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = escape(title)
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = 4.0 + ROW * i as f64;
        let width = (bar.value / scale_max * span).max(if bar.value > 0.0 { 1.0 } else { 0.0 });
        svg.push_str(&format!(
            "<text x=\"{x}\" y=\"{ty}\" text-anchor=\"end\" font-size=\"13\" fill=\"#222\">{label}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{width:.1}\" height=\"{h}\" fill=\"#3a6ea5\"></rect>\
             <text x=\"{cx:.1}\" y=\"{ty}\" font-size=\"13\" fill=\"#222\">{caption}</text>",
            x = LABEL - 8.0,
            ty = y + 14.0,
            label = escape(&bar.label),
            h = ROW - 8.0,
            cx = LABEL + width + 6.0,
            caption = escape(&bar.caption),
        ));
        if let Some(limit) = bar.limit {
            let x = LABEL + limit / scale_max * span;
            svg.push_str(&format!(
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{y}\" y2=\"{y2}\" stroke=\"#c0392b\" stroke-width=\"2\"></line>",
                y2 = y + ROW - 8.0
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Step 0 is the first message; the others are follow-ups.
fn step_name(step: u32) -> String {
    match step {
        0 => "first message".into(),
        n => format!("follow-up {n}"),
    }
}

fn render(session: &Session, stats: &Stats) -> Html<String> {
    let f = &stats.funnel;
    let funnel: Vec<Bar> = [
        ("imported", f.imported),
        ("contacted", f.contacted),
        ("replied", f.replied),
        ("converted", f.converted),
        ("do-not-contact", f.do_not_contact),
    ]
    .into_iter()
    .map(|(stage, n)| Bar {
        label: stage.into(),
        value: n as f64,
        limit: None,
        caption: format!("{n} · {}", percent(rate(n, f.imported))),
    })
    .collect();
    let steps: Vec<Bar> = stats
        .follow_up_steps
        .iter()
        .map(|s| {
            let r = rate(s.replied, s.sent);
            Bar {
                label: step_name(s.step),
                value: r.unwrap_or(0.0) * 100.0,
                limit: None,
                caption: format!("{} of {} · {}", s.replied, s.sent, percent(r)),
            }
        })
        .collect();
    let variants: Vec<Bar> = stats
        .follow_up_variants
        .iter()
        .map(|v| {
            let r = rate(v.replied, v.sent);
            let wording = v.template.as_deref().unwrap_or("(all other wordings)");
            Bar {
                label: format!(
                    "{}: {}",
                    step_name(v.step),
                    crate::text::ellipsize(wording, 14)
                ),
                value: r.unwrap_or(0.0) * 100.0,
                limit: None,
                caption: format!("{} of {} · {}", v.replied, v.sent, percent(r)),
            }
        })
        .collect();
    let wordings: String = stats
        .follow_up_variants
        .iter()
        .map(|v| {
            format!(
                "<li>{}: {}</li>",
                step_name(v.step),
                escape(v.template.as_deref().unwrap_or("(all other wordings)"))
            )
        })
        .collect();
    let days: Vec<Bar> = stats
        .sends_per_day
        .iter()
        .map(|d| Bar {
            label: format!("{} {}", d.sends.account, &format(d.sends.day)[..10]),
            value: d.sends.sent as f64,
            limit: d.cap.map(f64::from),
            caption: match d.cap {
                Some(cap) => format!("{} of {cap}", d.sends.sent),
                None => d.sends.sent.to_string(),
            },
        })
        .collect();
    pages::page(
        session,
        "Analytics",
        "Analytics",
        &format!(
            "<h1>Analytics</h1><p class=\"hint\">From this database only; nothing is sent anywhere.</p>\
             <h2>Funnel</h2>{}<p>Reply rate (replied of contacted): <b id=\"reply-rate\">{}</b></p>\
             <h2>Reply rate per follow-up step</h2>{}\
             <h2>Reply rate per wording (variant)</h2>{}<details><summary>The wordings in full</summary><ul id=\"wordings\">{wordings}</ul></details>\
             <h2>Sends per account and day (UTC), last {DAYS} days, against the cap</h2>{}",
            bar_chart("Leads at each stage", &funnel),
            percent(stats.reply_rate),
            bar_chart("Percent of messages answered, per step", &steps),
            bar_chart("Percent of messages answered, per wording", &variants),
            bar_chart(
                "Messages sent per day; the red tick is the daily cap",
                &days
            ),
        ),
    )
}
