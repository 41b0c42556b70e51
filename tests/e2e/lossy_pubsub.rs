//! A PubSub proxy that makes notifications lossy, for fault injection: between a client and
//! the node's PubSub it drops, delays, duplicates and reorders notifications, and cuts the
//! socket at chosen notifications. Requests and their replies pass untouched.

use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// What the proxy does to notifications.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Share of notifications dropped.
    pub drop: f64,
    /// Share sent twice.
    pub duplicate: f64,
    /// Share held back and sent after the next one.
    pub reorder: f64,
    /// Share delayed by up to `delay`.
    pub delay_share: f64,
    /// The longest delay.
    pub delay: Duration,
    /// Notification counts (over all connections) at which the socket is cut.
    pub cut_at: Vec<usize>,
}

/// What the proxy did, counted as it goes.
#[derive(Debug, Default)]
struct Stats {
    notifications: AtomicUsize,
    dropped: AtomicUsize,
    duplicated: AtomicUsize,
    reordered: AtomicUsize,
    delayed: AtomicUsize,
    cuts: AtomicUsize,
}

/// What the proxy did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub notifications: usize,
    pub dropped: usize,
    pub duplicated: usize,
    pub reordered: usize,
    pub delayed: usize,
    pub cuts: usize,
}

/// A running proxy.
pub struct LossyPubsub {
    /// Its WebSocket URL.
    pub url: String,
    stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LossyPubsub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where the `n`th notification falls in [0, 1) for the fault `salt`: the golden-ratio
/// sequence spreads every share evenly, so even a short stream meets each fault, the same way
/// every run.
fn spread(n: usize, salt: f64) -> f64 {
    ((n as f64 + salt) * 0.618_033_988_749_895).fract()
}

impl LossyPubsub {
    /// Listens on a free local port and proxies every connection to `upstream`.
    pub async fn start(upstream: &str, faults: Faults) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("ws://{}", listener.local_addr().expect("bound"));
        let stats = Arc::new(Stats::default());
        let shared = (upstream.to_string(), Arc::new(faults), stats.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (upstream, faults, stats) = shared.clone();
                tokio::spawn(async move {
                    let Ok(client) = tokio_tungstenite::accept_async(socket).await else {
                        return;
                    };
                    let Ok((node, _)) = tokio_tungstenite::connect_async(upstream.as_str()).await
                    else {
                        return;
                    };
                    relay(client, node, &faults, &stats).await;
                });
            }
        });
        Self { url, stats, task }
    }

    /// What it did so far.
    pub fn counts(&self) -> Counts {
        let read = |count: &AtomicUsize| count.load(Ordering::SeqCst);
        Counts {
            notifications: read(&self.stats.notifications),
            dropped: read(&self.stats.dropped),
            duplicated: read(&self.stats.duplicated),
            reordered: read(&self.stats.reordered),
            delayed: read(&self.stats.delayed),
            cuts: read(&self.stats.cuts),
        }
    }
}

/// Relays one connection until either side closes or a cut point is reached.
async fn relay<C, N>(client: C, node: N, faults: &Faults, stats: &Stats)
where
    C: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
        + futures_util::Sink<Message>
        + Unpin,
    N: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
        + futures_util::Sink<Message>
        + Unpin,
{
    let (mut to_client, mut from_client) = client.split();
    let (mut to_node, mut from_node) = node.split();
    let requests = async {
        while let Some(Ok(message)) = from_client.next().await {
            if to_node.send(message).await.is_err() {
                return;
            }
        }
    };
    let notifications = async {
        let mut held: Option<Message> = None;
        while let Some(Ok(message)) = from_node.next().await {
            let is_notification =
                matches!(&message, Message::Text(text) if text.contains("Notification\""));
            if !is_notification {
                if to_client.send(message).await.is_err() {
                    return;
                }
                continue;
            }
            let count = stats.notifications.fetch_add(1, Ordering::SeqCst) + 1;
            if faults.cut_at.contains(&count) {
                stats.cuts.fetch_add(1, Ordering::SeqCst);
                return; // both halves drop: the socket is cut
            }
            if spread(count, 0.0) < faults.drop {
                stats.dropped.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            if held.is_none() && spread(count, 0.31) < faults.reorder {
                stats.reordered.fetch_add(1, Ordering::SeqCst);
                held = Some(message);
                continue;
            }
            if spread(count, 0.57) < faults.delay_share {
                stats.delayed.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(faults.delay.mul_f64(spread(count, 0.89))).await;
            }
            let twice = spread(count, 0.73) < faults.duplicate;
            let mut out = vec![message.clone()];
            if twice {
                stats.duplicated.fetch_add(1, Ordering::SeqCst);
                out.push(message);
            }
            out.extend(held.take());
            for message in out {
                if to_client.send(message).await.is_err() {
                    return;
                }
            }
        }
    };
    tokio::select! {
        () = requests => {}
        () = notifications => {}
    }
}
