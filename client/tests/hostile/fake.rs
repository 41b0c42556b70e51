//! A node and a provider endpoint that say whatever a test tells them: JSON-RPC over plain
//! HTTP/1.1, PubSub and the direct-answer socket over WebSocket, all on 127.0.0.1.

use anchor_lang::{AccountDeserialize, AccountSerialize, Discriminator, Space};
use chainference::state::Request;
use chainference_client::direct::{DirectPiece, ToClient};
use chainference_prover::bundle::Chunk;
use chainference_prover::core::{ResponseCursor, MAX_CHUNK_LEN};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use solana_signature::Signature;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

/// A local node's genesis hash.
pub const GENESIS: [u8; 32] = [7; 32];

/// A Request account whose answer stands at `response`, as the program stores it.
pub fn request_account(response: &ResponseCursor) -> Vec<u8> {
    let mut zeroed = Request::DISCRIMINATOR.to_vec();
    zeroed.resize(8 + Request::INIT_SPACE, 0);
    let mut request = Request::try_deserialize(&mut zeroed.as_slice()).expect("a zeroed request");
    request.state = chainference::state::RequestState::Ready;
    request.response.set_cursor(response);
    let mut data = Vec::new();
    request.try_serialize(&mut data).expect("serializes");
    data
}

/// What the node's bank shows at one read: its slot and the request's account (`None`: absent).
pub type View = (u64, Option<Vec<u8>>);

/// The node: serves the request's account and, to every `logsSubscribe`, one
/// `logsNotification` per entry of `notifications` (each a transaction's log lines).
pub struct FakeNode {
    /// Its JSON-RPC URL.
    pub rpc_url: String,
    /// Its PubSub URL.
    pub pubsub_url: String,
}

impl FakeNode {
    /// A node whose bank stays at slot 10 with `account`.
    pub async fn start(account: Option<Vec<u8>>, notifications: Vec<Vec<String>>) -> Self {
        Self::with_views(vec![(10, account)], notifications).await
    }

    /// A node whose account reads go through `views` one by one, staying at the last; like a
    /// real node, it refuses a read that asks for a newer slot than the view's
    /// (`minContextSlot`), and the view is used up either way.
    pub async fn with_views(views: Vec<View>, notifications: Vec<Vec<String>>) -> Self {
        let rpc = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let pubsub = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let node = Self {
            rpc_url: format!("http://{}", rpc.local_addr().expect("address")),
            pubsub_url: format!("ws://{}", pubsub.local_addr().expect("address")),
        };
        let views = Arc::new(Views {
            views,
            reads: AtomicUsize::new(0),
        });
        tokio::spawn(async move {
            while let Ok((socket, _)) = rpc.accept().await {
                tokio::spawn(serve_rpc(socket, views.clone()));
            }
        });
        let notifications = Arc::new(notifications);
        tokio::spawn(async move {
            while let Ok((socket, _)) = pubsub.accept().await {
                tokio::spawn(serve_pubsub(socket, notifications.clone()));
            }
        });
        node
    }
}

/// The node's views and how many account reads used them up.
struct Views {
    views: Vec<View>,
    reads: AtomicUsize,
}

impl Views {
    /// The view now shown.
    fn current(&self) -> &View {
        let index = self.reads.load(Ordering::SeqCst);
        &self.views[index.min(self.views.len() - 1)]
    }
}

async fn serve_rpc(mut socket: TcpStream, views: Arc<Views>) {
    let mut buffer = Vec::new();
    loop {
        let Some(body) = read_http_request(&mut socket, &mut buffer).await else {
            return;
        };
        let Ok(call) = serde_json::from_slice::<Value>(&body) else {
            return;
        };
        let (slot, account) = views.current().clone();
        let mut error = Value::Null;
        let result = match call["method"].as_str().unwrap_or_default() {
            "getGenesisHash" => json!(bs58::encode(GENESIS).into_string()),
            "getSlot" => json!(slot),
            "getMultipleAccounts" => {
                views.reads.fetch_add(1, Ordering::SeqCst);
                let asked = call["params"][1]["minContextSlot"].as_u64().unwrap_or(0);
                if asked > slot {
                    error = json!({
                        "code": -32016,
                        "message": "Minimum context slot has not been reached",
                        "data": {"contextSlot": slot},
                    });
                }
                let value = match account.as_ref() {
                    Some(data) => json!({
                        "lamports": 1_000_000,
                        "data": [base64_encode(data), "base64"],
                        "owner": chainference::ID.to_string(),
                        "executable": false,
                        "rentEpoch": 0,
                        "space": data.len(),
                    }),
                    None => Value::Null,
                };
                json!({"context": {"slot": slot}, "value": [value]})
            }
            "getSignaturesForAddress" => json!([]),
            _ => Value::Null,
        };
        let reply = if error.is_null() {
            json!({"jsonrpc": "2.0", "result": result, "id": call["id"]})
        } else {
            json!({"jsonrpc": "2.0", "error": error, "id": call["id"]})
        }
        .to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            reply.len()
        );
        let sent = socket.write_all(head.as_bytes()).await;
        if sent.is_err() || socket.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The next request's body on a keep-alive connection; `None` once it closes.
async fn read_http_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let body = buffer[end + 4..end + 4 + length].to_vec();
                buffer.drain(..end + 4 + length);
                return Some(body);
            }
        }
        let mut read = [0u8; 8192];
        match socket.read(&mut read).await {
            Ok(0) | Err(_) => return None,
            Ok(count) => buffer.extend_from_slice(&read[..count]),
        }
    }
}

async fn serve_pubsub(socket: TcpStream, notifications: Arc<Vec<Vec<String>>>) {
    let Ok(mut socket) = tokio_tungstenite::accept_async(socket).await else {
        return;
    };
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(call) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if call["method"] != "logsSubscribe" {
            continue;
        }
        let subscribed = json!({"jsonrpc": "2.0", "result": 1, "id": call["id"]});
        if socket
            .send(Message::text(subscribed.to_string()))
            .await
            .is_err()
        {
            return;
        }
        for (index, logs) in notifications.iter().enumerate() {
            let notification = json!({
                "jsonrpc": "2.0",
                "method": "logsNotification",
                "params": {
                    "result": {
                        "context": {"slot": 10},
                        "value": {
                            "signature": Signature::from([index as u8 + 1; 64]).to_string(),
                            "err": null,
                            "logs": logs,
                        },
                    },
                    "subscription": 1,
                },
            });
            if socket
                .send(Message::text(notification.to_string()))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// A provider's direct-answer endpoint that sends well-formed full-size, token-free chunks
/// for as long as the client takes them, and counts the acknowledgements.
pub struct EndlessProvider {
    /// Its endpoint URL.
    pub endpoint: String,
    /// Chunks sent so far.
    pub sent: Arc<AtomicUsize>,
    /// Acknowledgements received so far (the client acknowledges only what it keeps).
    pub acks: Arc<AtomicUsize>,
}

/// How an [`EndlessProvider`] sends its chunks.
#[derive(Clone, Copy, Debug)]
pub struct Endless {
    /// Chunks a message.
    pub chunks_a_message: u32,
    /// Chunks a batch (a message that ends one closes it); `None`: batches never close.
    pub batch_chunks: Option<u32>,
}

impl EndlessProvider {
    /// Sends chunks as `endless` says.
    pub async fn start(endless: Endless) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let provider = Self {
            endpoint: format!("ws://{}", listener.local_addr().expect("address")),
            sent: Arc::new(AtomicUsize::new(0)),
            acks: Arc::new(AtomicUsize::new(0)),
        };
        let (sent, acks) = (provider.sent.clone(), provider.acks.clone());
        tokio::spawn(async move {
            // One connection is enough: the test fails the client's first one.
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let Ok(socket) = tokio_tungstenite::accept_async(socket).await else {
                return;
            };
            let (mut sink, mut stream) = socket.split();
            tokio::spawn(async move {
                while let Some(Ok(message)) = stream.next().await {
                    if matches!(message, Message::Text(_)) {
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            let step = endless.chunks_a_message.max(1);
            for first_seq in (0u32..).step_by(step as usize) {
                let chunks = (first_seq..first_seq + step)
                    .map(|seq| Chunk {
                        seq,
                        tokens: 0,
                        is_final: false,
                        nonce: [0; 24],
                        ciphertext: vec![0x5a; MAX_CHUNK_LEN],
                    })
                    .collect();
                let closes = endless
                    .batch_chunks
                    .is_some_and(|batch| (first_seq + step).is_multiple_of(batch.max(1)));
                let piece = ToClient::Chunks(DirectPiece {
                    stream: 1,
                    first_seq,
                    chunks,
                    closes,
                });
                let text = serde_json::to_string(&piece).expect("json");
                if sink.send(Message::text(text)).await.is_err() {
                    return;
                }
                sent.fetch_add(step as usize, Ordering::Relaxed);
            }
        });
        provider
    }
}

/// The log of a transaction in which our program emitted `event`.
pub fn event_logs(event: &impl anchor_lang::Event) -> Vec<String> {
    let program = chainference::ID;
    vec![
        format!("Program {program} invoke [1]"),
        format!("Program data: {}", base64_encode(&event.data())),
        format!("Program {program} success"),
    ]
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
