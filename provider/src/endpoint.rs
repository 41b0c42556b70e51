//! The provider's endpoint for direct delivery: a WebSocket server where each client reads
//! its request's answer (`/v1/answers/<request>?from=<seq>`, chunks as JSON text frames as
//! they are sealed, from chunk `seq`, each frame saying whether it closes a batch) and sends
//! back its signed acknowledgements of closed batches. An acknowledgement
//! is taken only if the request's client signed it in this request's scope (program, cluster,
//! request) and it ends exactly where a batch this server sent ends, with that batch's
//! sequence, tokens and hash chain, further than the last one taken: the job bills on it and
//! posts roots up to it, so anything else (`{next_seq: u32::MAX, tokens: 0}`, say) could make
//! the completion fail. Chunks are sealed to the client, so serving them to anyone who asks
//! reveals nothing the chain would not.

use anchor_lang::prelude::Pubkey;
use chainference_client::direct::{DirectPiece, SignedAck, ToClient, ToProvider, ANSWER_PATH};
use chainference_prover::core::{ResponseCursor, Scope};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::Message;

/// How long a connection waits for its request's answer to appear (the job starts at lock).
const FEED_PATIENCE: Duration = Duration::from_secs(10);
/// How long a finished answer stays readable, for a client that reconnects after the end.
const KEEP_FINISHED: Duration = Duration::from_secs(120);

/// Published chunks and, if they close a batch, where that leaves the answer.
struct Published {
    piece: DirectPiece,
    end: Option<ResponseCursor>,
}

impl Published {
    /// What a reader starting at chunk `from` is sent of it: its chunks from `from` on, or,
    /// with none, its close if the batch ends at `from` or later; `None` if nothing.
    fn from(&self, from: u32) -> Option<DirectPiece> {
        let piece = &self.piece;
        let end_seq = piece.first_seq + piece.chunks.len() as u32;
        let chunks: Vec<_> = piece
            .chunks
            .iter()
            .filter(|chunk| chunk.seq >= from)
            .cloned()
            .collect();
        let first_seq = chunks.first().map_or(end_seq, |chunk| chunk.seq);
        (!chunks.is_empty() || (piece.closes && end_seq >= from)).then_some(DirectPiece {
            stream: piece.stream,
            first_seq,
            chunks,
            closes: piece.closes,
        })
    }
}

/// One request's answer as the job publishes it.
pub struct Feed {
    client: Pubkey,
    scope: Scope,
    pieces: watch::Sender<Vec<Arc<Published>>>,
    ack: watch::Sender<Option<SignedAck>>,
}

impl Feed {
    /// Publishes chunks to every connected (and later) reader; `end`, where the answer
    /// stands, if they close a batch.
    pub fn publish(&self, piece: DirectPiece, end: Option<ResponseCursor>) {
        self.pieces
            .send_modify(|pieces| pieces.push(Arc::new(Published { piece, end })));
    }

    /// The furthest acknowledgement the client signed so far.
    pub fn latest_ack(&self) -> Option<SignedAck> {
        *self.ack.borrow()
    }

    /// Waits until the client has acknowledged everything before `next_seq`, or `patience`
    /// passes; returns the furthest acknowledgement then.
    pub async fn ack_reaching(&self, next_seq: u32, patience: Duration) -> Option<SignedAck> {
        if next_seq == 0 {
            return self.latest_ack();
        }
        let mut acks = self.ack.subscribe();
        let reached = acks.wait_for(|ack| ack.is_some_and(|ack| ack.next_seq >= next_seq));
        let _ = tokio::time::timeout(patience, reached).await;
        self.latest_ack()
    }

    /// Takes `ack` if the client signed it in this request's scope, it ends exactly where a
    /// published batch ends, and it goes further than the last one taken.
    pub fn offer_ack(&self, ack: SignedAck) -> bool {
        let at_a_batch_end = self.pieces.borrow().iter().any(|published| {
            published.end.is_some_and(|end| {
                (end.next_seq, end.tokens, end.chain) == (ack.next_seq, ack.tokens, ack.chain)
            })
        });
        if !at_a_batch_end || !ack.is_signed_by(&self.client, &self.scope) {
            return false;
        }
        self.ack.send_if_modified(|latest| {
            let further = latest.is_none_or(|latest| ack.next_seq > latest.next_seq);
            if further {
                *latest = Some(ack);
            }
            further
        })
    }
}

/// The answers this provider is delivering directly, by request.
#[derive(Clone, Default)]
pub struct Feeds {
    open: Arc<Mutex<HashMap<Pubkey, Arc<Feed>>>>,
    opened: Arc<tokio::sync::Notify>,
}

impl Feeds {
    /// Opens the feed of `request`, whose acknowledgements `client` signs in `scope`.
    pub fn open(&self, request: Pubkey, client: Pubkey, scope: Scope) -> Arc<Feed> {
        let feed = Arc::new(Feed {
            client,
            scope,
            pieces: watch::channel(Vec::new()).0,
            ack: watch::channel(None).0,
        });
        self.lock().insert(request, feed.clone());
        self.opened.notify_waiters();
        feed
    }

    /// Closes the feed of `request` after a grace period for late readers.
    pub fn close_later(&self, request: Pubkey) {
        let feeds = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(KEEP_FINISHED).await;
            feeds.lock().remove(&request);
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Pubkey, Arc<Feed>>> {
        // A reader that panicked holding the map leaves it consistent (single inserts and
        // removals), so a poisoned lock is still usable.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn wait_for(&self, request: &Pubkey) -> Option<Arc<Feed>> {
        let wait = async {
            loop {
                let opened = self.opened.notified();
                if let Some(feed) = self.lock().get(request).cloned() {
                    return feed;
                }
                opened.await;
            }
        };
        tokio::time::timeout(FEED_PATIENCE, wait).await.ok()
    }
}

/// Serves `feeds` on `listener` until dropped, its connections with it (a provider stopped in
/// the process closes its clients' sockets, as one that exits does).
pub async fn serve(listener: TcpListener, feeds: Feeds) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let feeds = feeds.clone();
                    connections.spawn(async move {
                        if let Err(error) = connection(stream, feeds).await {
                            tracing::debug!(%peer, %error, "answer socket ended");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting an answer socket failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

/// Keeps the path the client's handshake asks for.
struct PathOf<'a>(&'a mut String);

impl Callback for PathOf<'_> {
    fn on_request(self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        *self.0 = request.uri().to_string();
        Ok(response)
    }
}

/// The request and first sequence number a path names.
fn parse_path(path: &str) -> Option<(Pubkey, u32)> {
    let rest = path.strip_prefix(ANSWER_PATH)?;
    let (request, query) = rest.split_once('?').unwrap_or((rest, ""));
    let from = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("from="))
        .map_or(Ok(0), u32::from_str)
        .ok()?;
    Some((Pubkey::from_str(request).ok()?, from))
}

async fn connection(
    stream: TcpStream,
    feeds: Feeds,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let mut path = String::new();
    let socket = tokio_tungstenite::accept_hdr_async(stream, PathOf(&mut path)).await?;
    let (mut sink, mut incoming) = socket.split();
    let refuse = |reason: String| {
        Message::text(serde_json::to_string(&ToClient::Refused(reason)).unwrap_or_default())
    };
    let Some((request, from)) = parse_path(&path) else {
        sink.send(refuse(format!(
            "{path} is not {ANSWER_PATH}<request>?from=<seq>"
        )))
        .await?;
        return Ok(());
    };
    let Some(feed) = feeds.wait_for(&request).await else {
        sink.send(refuse(format!(
            "this server is not delivering request {request}"
        )))
        .await?;
        return Ok(());
    };
    let mut pieces = feed.pieces.subscribe();
    let mut sent = 0usize;
    loop {
        let ready: Vec<Arc<Published>> = pieces.borrow_and_update().clone();
        for published in ready.iter().skip(sent) {
            if let Some(piece) = published.from(from) {
                let text = serde_json::to_string(&ToClient::Chunks(piece)).unwrap_or_default();
                sink.send(Message::text(text)).await?;
            }
        }
        sent = ready.len();
        tokio::select! {
            changed = pieces.changed() => if changed.is_err() { return Ok(()) },
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<ToProvider>(&text) {
                    Ok(ToProvider::Ack(ack)) => {
                        if !feed.offer_ack(ack) {
                            tracing::debug!(%request, next_seq = ack.next_seq, "acknowledgement ignored (not the client's, not at a batch's end, or not further)");
                        }
                    }
                    Err(error) => tracing::debug!(%request, %error, "unreadable message ignored"),
                },
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_a_request_and_where_to_start() {
        let request = Pubkey::new_unique();
        assert_eq!(
            parse_path(&format!("{ANSWER_PATH}{request}?from=12")),
            Some((request, 12))
        );
        assert_eq!(
            parse_path(&format!("{ANSWER_PATH}{request}")),
            Some((request, 0))
        );
        assert_eq!(parse_path("/other"), None);
        assert_eq!(parse_path(&format!("{ANSWER_PATH}{request}?from=x")), None);
        assert_eq!(parse_path(&format!("{ANSWER_PATH}not-a-key")), None);
    }

    #[test]
    fn only_the_clients_acknowledgement_of_a_sent_batch_end_is_taken() {
        use solana_signer::Signer;
        let client = solana_keypair::Keypair::new();
        let request = Pubkey::new_unique();
        let scope = chainference_client::instructions::scope(&[1; 32], &request);
        let feed = Feeds::default().open(request, client.pubkey(), scope);
        let end = |next_seq, tokens, chain| ResponseCursor {
            next_seq,
            tokens,
            leaves: 1,
            chain,
            finished: false,
        };
        let (first, second) = (end(3, 30, [5; 32]), end(5, 50, [6; 32]));
        let piece = |first_seq| DirectPiece {
            stream: 1,
            first_seq,
            chunks: vec![],
            closes: true,
        };
        // Chunks that close no batch: nothing to acknowledge there.
        feed.publish(piece(0), None);
        assert!(!feed.offer_ack(SignedAck::sign(&client, &scope, &end(0, 0, [0; 32]))));
        feed.publish(piece(0), Some(first));
        let signed = |cursor: &ResponseCursor| SignedAck::sign(&client, &scope, cursor);
        // Poisoned, past what was sent, or short of a batch's end: refused.
        for wrong in [
            end(u32::MAX, 0, [0; 32]),
            second,
            end(3, 29, [5; 32]),
            end(3, 30, [4; 32]),
        ] {
            assert!(!feed.offer_ack(signed(&wrong)), "{wrong:?} was taken");
        }
        // Another signer, or another cluster: refused.
        let stranger = solana_keypair::Keypair::new();
        assert!(!feed.offer_ack(SignedAck::sign(&stranger, &scope, &first)));
        let elsewhere = chainference_client::instructions::scope(&[2; 32], &request);
        assert!(!feed.offer_ack(SignedAck::sign(&client, &elsewhere, &first)));
        assert_eq!(feed.latest_ack(), None);
        // The client's own, at the end of a sent batch: taken, and only further ones after it.
        assert!(feed.offer_ack(signed(&first)));
        assert!(!feed.offer_ack(signed(&first)));
        feed.publish(piece(3), Some(second));
        assert!(feed.offer_ack(signed(&second)));
        assert_eq!(feed.latest_ack().map(|ack| ack.next_seq), Some(5));
    }

    #[test]
    fn a_reader_from_a_chunk_gets_the_chunks_from_there_and_the_closes_it_lacks() {
        use chainference_prover::bundle::Chunk;
        let chunk = |seq| Chunk {
            seq,
            tokens: 1,
            is_final: false,
            nonce: [0; 24],
            ciphertext: vec![1],
        };
        let published = |first_seq: u32, count: u32, closes| Published {
            piece: DirectPiece {
                stream: 1,
                first_seq,
                chunks: (first_seq..first_seq + count).map(chunk).collect(),
                closes,
            },
            end: None,
        };
        let seqs = |piece: Option<DirectPiece>| {
            piece.map(|piece| {
                let seqs: Vec<u32> = piece.chunks.iter().map(|chunk| chunk.seq).collect();
                (piece.first_seq, seqs, piece.closes)
            })
        };
        let open = published(4, 3, false);
        assert_eq!(seqs(open.from(0)), Some((4, vec![4, 5, 6], false)));
        assert_eq!(seqs(open.from(5)), Some((5, vec![5, 6], false)));
        assert_eq!(seqs(open.from(7)), None);
        let closing = published(4, 3, true);
        // A reader that has every chunk may lack the close; one past the batch does not.
        assert_eq!(seqs(closing.from(7)), Some((7, vec![], true)));
        assert_eq!(seqs(closing.from(8)), None);
    }
}
