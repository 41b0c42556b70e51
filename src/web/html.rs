//! The website's pages: server-rendered HTML, one stylesheet inlined (no CDN), a table per
//! page that turns into cards on a phone, and a few lines of script that swap in the fresh
//! rows the server pushes (server-sent events; without script, the page reloads itself).

use super::market::{Market, ModelView, Price, RecordView, ServerView};
use super::request::{RequestView, Verdict};
use super::Snapshot;
use chainference_client::market::sol;
use std::fmt::Write as _;

/// The pages, for the navigation bar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `/servers`.
    Servers,
    /// `/models`.
    Models,
    /// `/requests/<address>`.
    Request,
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --line: #8884; --muted: #888; --good: #2a7; --bad: #c44; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: center;
  padding: .75rem 1rem; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; }
header a { text-decoration: none; }
header a.here { text-decoration: underline; }
header form { margin-left: auto; display: flex; gap: .25rem; flex: 1 1 16rem; max-width: 30rem; }
header input { flex: 1; min-width: 0; padding: .3rem .5rem; font: inherit; }
main { padding: 1rem; }
h1 { font-size: 1.3rem; margin: 0 0 .75rem; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
.status { color: var(--muted); font-size: .85rem; margin-bottom: .75rem; }
.status .dot { display: inline-block; width: .55rem; height: .55rem; border-radius: 50%;
  background: var(--muted); margin-right: .3rem; }
.status.live .dot { background: var(--good); }
.warning { color: var(--bad); }
table { border-collapse: collapse; width: 100%; font-size: .85rem; }
th, td { text-align: left; vertical-align: top; padding: .35rem .4rem;
  border-bottom: 1px solid var(--line); white-space: nowrap; }
td.wrap { white-space: normal; }
th { font-size: .75rem; text-transform: uppercase; color: var(--muted); }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
.key { font-family: ui-monospace, monospace; font-size: .85rem; word-break: break-all; }
.offer + .offer { margin-top: .35rem; }
.muted { color: var(--muted); }
.yes { color: var(--good); }
.no { color: var(--bad); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
@media (max-width: 760px) {
  thead { display: none; }
  table, tbody, tr, td { display: block; width: 100%; }
  tr { border: 1px solid var(--line); border-radius: .5rem; margin-bottom: .75rem; padding: .25rem 0; }
  td { border: 0; display: flex; gap: .75rem; justify-content: space-between; text-align: right;
    white-space: normal; }
  td::before { content: attr(data-label); color: var(--muted); text-align: left; flex: none; }
  td.number { text-align: right; }
  dl { grid-template-columns: 1fr; gap: 0; }
  dd { margin-bottom: .4rem; }
}
"#;

const SCRIPT: &str = r#"
const live = document.getElementById('live');
const status = document.getElementById('status');
const events = new EventSource(live.dataset.events);
events.addEventListener('open', () => status.classList.add('live'));
events.addEventListener('error', () => status.classList.remove('live'));
events.addEventListener('rows', (event) => { live.innerHTML = event.data; });
"#;

/// A whole page: `title`, the navigation with `page` marked, and `fragment` inside the part
/// that `events` (a server-sent-events path) keeps fresh.
pub fn page(page: Page, title: &str, events: &str, fragment: &str) -> String {
    let link = |target: Page, href: &str, name: &str| {
        let here = if target == page {
            " class=\"here\""
        } else {
            ""
        };
        format!("<a href=\"{href}\"{here}>{name}</a>")
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · Chainference</title><style>{STYLE}</style>\
<noscript><meta http-equiv=\"refresh\" content=\"15\"></noscript></head><body>\
<header><span class=\"brand\">Chainference</span>{servers}{models}\
<form action=\"/requests\" method=\"get\"><input name=\"address\" placeholder=\"Request address\" \
aria-label=\"Request address\" required><button>Show</button></form></header>\
<main><h1>{title}</h1><div id=\"status\" class=\"status\"><span class=\"dot\"></span>live: \
updates as the chain changes</div><div id=\"live\" data-events=\"{events}\">{fragment}</div>\
</main><script>{SCRIPT}</script></body></html>\n",
        title = escape(title),
        servers = link(Page::Servers, "/servers", "Servers"),
        models = link(Page::Models, "/models", "Models"),
        events = escape(events),
    )
}

/// A page that says what went wrong.
pub fn error_page(title: &str, message: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · Chainference</title><style>{STYLE}</style></head><body>\
<header><span class=\"brand\">Chainference</span><a href=\"/servers\">Servers</a>\
<a href=\"/models\">Models</a></header><main><h1>{title}</h1><p class=\"warning\">{message}</p>\
</main></body></html>\n",
        title = escape(title),
        message = escape(message),
    )
}

/// The servers table.
pub fn servers(snapshot: &Snapshot) -> String {
    let market = &snapshot.market;
    let mut html = freshness(snapshot);
    if market.servers.is_empty() {
        html.push_str("<p>No server is registered on this cluster yet.</p>");
        return html;
    }
    html.push_str(
        "<div class=\"scroll\"><table class=\"servers\"><thead><tr><th>Server</th><th>Models · per million \
tokens (in / out)</th><th>Status</th><th class=\"number\">Locks</th><th>Last active</th>\
<th class=\"number\">Completed</th><th class=\"number\">Failures</th><th>Success</th>\
<th>Preferred</th><th class=\"number\">Paid</th><th class=\"number\">Speed</th></tr>\
</thead><tbody>",
    );
    for server in &market.servers {
        server_row(&mut html, server, market.as_of);
    }
    html.push_str("</tbody></table></div>");
    html
}

/// The weights an offer pins: the digest's start, the whole on hover.
fn weights(digest: &str) -> String {
    match digest.get(..12) {
        Some(start) => format!(
            "<span class=\"key\" title=\"weights sha256 {}\">weights {}…</span>",
            escape(digest),
            escape(start)
        ),
        None => "weights not pinned".into(),
    }
}

fn server_row(html: &mut String, server: &ServerView, now: i64) {
    let record = &server.record;
    let offers: String = server
        .models
        .iter()
        .map(|offer| {
            format!(
                "<div class=\"offer\"><b>{}</b> <span class=\"muted\">{} {} {}</span><br>\
<span class=\"price\">{} / {}</span></div>",
                escape(&offer.id),
                escape(&offer.revision),
                escape(&offer.quantization),
                weights(&offer.weights_sha256),
                price(offer.input_price),
                price(offer.output_price),
            )
        })
        .collect();
    let status = match (server.active, server.free_now) {
        (false, _) => "<span class=\"no\">inactive</span>",
        (true, true) => "<span class=\"yes\">free</span>",
        (true, false) if server.locks >= server.max_concurrent => "busy",
        (true, false) => "<span class=\"muted\">idle</span>",
    };
    let _ = write!(
        html,
        "<tr data-operator=\"{operator}\"><td data-label=\"Server\" class=\"key\" \
title=\"operator {operator}, server account {address}\">{short}</td>\
<td data-label=\"Models\" class=\"wrap\">{offers}</td>\
<td data-label=\"Status\">{status}</td><td data-label=\"Locks\" class=\"number\">{locks} / {max}</td>\
<td data-label=\"Last active\">{last}</td><td data-label=\"Completed\" class=\"number\">{completed}</td>\
<td data-label=\"Failures\" class=\"number\">{failures}</td><td data-label=\"Success\">{success}</td>\
<td data-label=\"Preferred\">{preferred}</td><td data-label=\"Paid\" class=\"number\">{paid}</td>\
<td data-label=\"Speed\" class=\"number\">{speed}</td></tr>",
        operator = escape(&server.operator),
        short = escape(&short(&server.operator)),
        address = escape(&server.address),
        locks = server.locks,
        max = server.max_concurrent,
        last = ago(now, server.last_active),
        completed = record.completed,
        failures = record.failures,
        success = ratio(record.success_ratio, record.success_lower_bps, record.completed),
        preferred = ratio(
            record.preference_ratio,
            record.preference_lower_bps,
            record.comparisons
        ),
        paid = sol(record.lamports_paid),
        speed = speed(record),
    );
}

/// Mean time to first chunk and tokens/s, as far as measured (a second is the clock's grain).
fn speed(record: &RecordView) -> String {
    let first = record
        .mean_first_chunk_secs
        .map(|secs| format!("first chunk {secs:.1} s"));
    let rate = record
        .tokens_per_second
        .map(|speed| format!("{speed:.1} tokens/s"));
    match (first, rate) {
        (None, None) => "<span class=\"muted\" title=\"no completed answer yet\">—</span>".into(),
        (first, rate) => format!(
            "<span title=\"mean seconds from lock to first chunk; tokens per second from lock \
to completion\">{}</span>",
            [first, rate]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("<br>")
        ),
    }
}

/// The models table.
pub fn models(snapshot: &Snapshot) -> String {
    let market: &Market = &snapshot.market;
    let mut html = freshness(snapshot);
    if market.models.is_empty() {
        html.push_str("<p>No active server offers a model on this cluster yet.</p>");
        return html;
    }
    html.push_str(
        "<div class=\"scroll\"><table class=\"models\"><thead><tr><th>Model</th><th class=\"number\">Servers</th>\
<th class=\"number\">Free now</th><th class=\"number\">Cheapest (in / out)</th>\
<th class=\"number\">Median (in / out)</th><th>Offers · per million tokens (in / out)</th>\
</tr></thead><tbody>",
    );
    for model in &market.models {
        model_row(&mut html, model);
    }
    html.push_str("</tbody></table></div>");
    html
}

fn model_row(html: &mut String, model: &ModelView) {
    let offers: String = model
        .offers
        .iter()
        .map(|offer| {
            format!(
                "<div class=\"offer\"><span class=\"key\" title=\"operator {}\">{}</span> \
<span class=\"muted\">{} {} {}</span> · {} / {}{}</div>",
                escape(&offer.operator),
                escape(&short(&offer.operator)),
                escape(&offer.revision),
                escape(&offer.quantization),
                weights(&offer.weights_sha256),
                price(offer.input_price),
                price(offer.output_price),
                if offer.free_now {
                    " · <span class=\"yes\">free</span>"
                } else {
                    ""
                },
            )
        })
        .collect();
    let _ = write!(
        html,
        "<tr data-model=\"{id}\"><td data-label=\"Model\" class=\"wrap\"><b>{id}</b></td>\
<td data-label=\"Servers\" class=\"number\">{servers}</td>\
<td data-label=\"Free now\" class=\"number\">{free}</td>\
<td data-label=\"Cheapest\" class=\"number cheapest\">{cheap_in} / {cheap_out}</td>\
<td data-label=\"Median\" class=\"number median\">{median_in} / {median_out}</td>\
<td data-label=\"Offers\" class=\"wrap\">{offers}</td></tr>",
        id = escape(&model.id),
        servers = model.servers,
        free = model.free_now,
        cheap_in = price(model.input_price.cheapest),
        cheap_out = price(model.output_price.cheapest),
        median_in = price(model.input_price.median),
        median_out = price(model.output_price.median),
    );
}

/// One request's facts and its audit.
pub fn request(view: &RequestView) -> String {
    let mut html = String::from("<dl class=\"request\">");
    let mut item = |name: &str, value: String| {
        let _ = write!(html, "<dt>{name}</dt><dd>{value}</dd>");
    };
    let key = |text: &str| format!("<span class=\"key\">{}</span>", escape(text));
    let lamports = |value: Option<u64>| value.map_or("—".into(), sol);
    item("Request", key(&view.address));
    item("State", escape(&view.state));
    item("Model", format!("<b>{}</b>", escape(&view.model)));
    item("Delivery", view.delivery.into());
    item("Client", view.client.as_deref().map_or("—".into(), key));
    item(
        "Server",
        view.server.as_deref().map_or("none yet".into(), key),
    );
    item("Stake", sol(view.stake));
    item(
        "Tokens",
        format!(
            "{} prompt · {} of at most {} answer tokens posted{}",
            view.prompt_tokens,
            view.tokens_posted,
            view.max_output_tokens,
            if view.finished { " · finished" } else { "" }
        ),
    );
    item("Leaves", view.leaves.to_string());
    item("Bill", lamports(view.bill));
    item("Protocol fee", lamports(view.fee));
    item("Refund", lamports(view.refund));
    item("Flagged", if view.flagged { "yes" } else { "no" }.into());
    if let Some(tree) = &view.receipt_tree {
        item(
            "Receipt",
            format!("a Light compressed account in state tree {}", key(tree)),
        );
    }
    item("Audit", verdict(&view.audit));
    if !view.account_open {
        item(
            "Account",
            "closed: read from the request's transactions on the ledger".into(),
        );
    }
    html.push_str("</dl>");
    html
}

fn verdict(verdict: &Verdict) -> String {
    match verdict {
        Verdict::NotSettled => "<span class=\"muted\">nothing settled to audit yet</span>".into(),
        Verdict::Finalizing => {
            "<span class=\"muted\">settled; audited once the settlement is finalized</span>".into()
        }
        Verdict::Verified {
            chunks,
            batches,
            answer_tokens,
            bill,
        } => format!(
            "<span class=\"yes verdict\">verified</span>: {} in {}, each proven against its \
on-chain root; hash chain and bill ({}, {}) check",
            count(*chunks, "chunk"),
            count(*batches, "leaf"),
            count(*answer_tokens, "token"),
            sol(*bill)
        ),
        Verdict::ChunksWithClient => "<span class=\"muted verdict\">delivered directly</span>: \
the ledger holds the roots and the client's acknowledgement; the chunks are with the client \
(`chainference audit` with its answers folder checks them)"
            .into(),
        Verdict::Failed { reason } => format!(
            "<span class=\"no verdict\">failed</span>: {}",
            escape(reason)
        ),
    }
}

/// When the data was read, and whether the last read failed.
fn freshness(snapshot: &Snapshot) -> String {
    match &snapshot.error {
        None => String::new(),
        Some(error) => format!(
            "<p class=\"warning\">The node did not answer the last read ({}); this is the \
chain as of unix time {}.</p>",
            escape(error),
            snapshot.market.as_of
        ),
    }
}

/// A price per million tokens in SOL, with its exact lamports in the tooltip.
fn price(price: Price) -> String {
    format!(
        "<span title=\"{} lamports per million tokens\">{}</span>",
        price.lamports_per_million,
        sol(price.lamports_per_million)
    )
}

/// A ratio as a percentage with its Wilson lower bound (what filters judge), or a dash with
/// no trials.
fn ratio(ratio: Option<f64>, lower_bps: u16, trials: u64) -> String {
    match ratio {
        None => "<span class=\"muted\" title=\"no trials yet\">—</span>".into(),
        Some(ratio) => format!(
            "<span title=\"of {trials}; Wilson lower bound {lower:.0}%\">{:.0}% \
<span class=\"muted\">≥{lower:.0}%</span></span>",
            100.0 * ratio,
            lower = f64::from(lower_bps) / 100.0
        ),
    }
}

/// How long before `now` the unix time `then` was, coarsely (so rows change rarely).
fn ago(now: i64, then: i64) -> String {
    let secs = now.saturating_sub(then).max(0);
    match secs {
        0..60 => "just now".into(),
        60..3_600 => format!("{} min ago", secs / 60),
        3_600..86_400 => format!("{} h ago", secs / 3_600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// `n` things, in the plural unless one (`leaf` becomes `leaves`).
fn count(n: u32, thing: &str) -> String {
    match (n, thing.strip_suffix('f')) {
        (1, _) => format!("1 {thing}"),
        (_, Some(stem)) => format!("{n} {stem}ves"),
        (_, None) => format!("{n} {thing}s"),
    }
}

/// A key's first and last characters.
fn short(key: &str) -> String {
    match (key.get(..4), key.get(key.len().saturating_sub(4)..)) {
        (Some(head), Some(tail)) if key.len() > 12 => format!("{head}…{tail}"),
        _ => key.to_string(),
    }
}

/// Text made safe inside HTML elements and attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_chain_cannot_make_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn times_and_keys_read_briefly() {
        assert_eq!(ago(100, 90), "just now");
        assert_eq!(ago(4_000, 100), "1 h ago");
        assert_eq!(ago(100, 200), "just now");
        assert_eq!(count(1, "leaf"), "1 leaf");
        assert_eq!(count(3, "leaf"), "3 leaves");
        assert_eq!(count(0, "chunk"), "0 chunks");
        assert_eq!(short("AbCdEfGhIjKlMnOp"), "AbCd…MnOp");
        assert_eq!(short("short"), "short");
    }

    #[test]
    fn a_page_carries_its_events_path_and_no_outside_resource() {
        let html = page(
            Page::Models,
            "Models <all>",
            "/events/models",
            "<p>rows</p>",
        );
        assert!(html.contains("data-events=\"/events/models\""));
        assert!(html.contains("Models &lt;all&gt;"));
        assert!(html.contains("<a href=\"/models\" class=\"here\">"));
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"));
    }
}
