//! Lamport conservation over random sequences of every instruction by several clients and
//! servers with the clock moving: nothing is created or lost but fees, every escrow and bond
//! stays reachable, and every request ends paid, refunded or still open.

use crate::common::*;
use anchor_lang::prelude::Pubkey;
use chainference::state::*;
use chainference_native::svm::solana_keypair::Keypair;
use chainference_native::svm::solana_signer::Signer;
use chainference_native::svm::{config_address, server_address, treasury_address};
use proptest::prelude::*;

/// One step of a random run. Indices pick among the clients, servers and requests that exist;
/// an actor index of 3 picks the request's rightful client or locking server, so that runs go
/// deep into the lifecycle as well as into refusals.
#[derive(Clone, Debug)]
enum Op {
    Create {
        client: usize,
        stake: u64,
        tokens: u32,
        only: Option<usize>,
    },
    Cancel {
        client: usize,
        request: usize,
    },
    Lock {
        server: usize,
        request: usize,
    },
    Prompt {
        client: usize,
        request: usize,
        seal: bool,
    },
    Append {
        server: usize,
        request: usize,
        count: u32,
        tokens: u16,
        last: bool,
    },
    Complete {
        server: usize,
        request: usize,
    },
    Expire {
        request: usize,
    },
    Flag {
        client: usize,
        request: usize,
    },
    Compare {
        client: usize,
        first: usize,
        second: usize,
        first_preferred: bool,
    },
    Close {
        request: usize,
    },
    Advance {
        secs: i64,
    },
    SetFee {
        fee_bps: u16,
    },
    /// Moves a request one step along its happy path with its rightful actors.
    Step {
        request: usize,
        server: usize,
    },
    Deactivate {
        server: usize,
    },
    Reactivate {
        server: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..3usize;
    let actor = 0..4usize;
    let request = 0..8usize;
    prop_oneof![
        3 => (who.clone(), 1u64..3_000_000, 1u32..400, prop::option::of(0..3usize))
            .prop_map(|(client, stake, tokens, only)| Op::Create { client, stake, tokens, only }),
        1 => (who.clone(), request.clone()).prop_map(|(client, request)| Op::Cancel { client, request }),
        3 => (who.clone(), request.clone()).prop_map(|(server, request)| Op::Lock { server, request }),
        3 => (actor.clone(), request.clone(), any::<bool>()).prop_map(|(client, request, seal)| Op::Prompt { client, request, seal }),
        4 => (actor.clone(), request.clone(), 1u32..4, 0u16..120, any::<bool>())
            .prop_map(|(server, request, count, tokens, last)| Op::Append { server, request, count, tokens, last }),
        3 => (actor.clone(), request.clone()).prop_map(|(server, request)| Op::Complete { server, request }),
        2 => request.clone().prop_map(|request| Op::Expire { request }),
        1 => (actor.clone(), request.clone()).prop_map(|(client, request)| Op::Flag { client, request }),
        1 => (actor, request.clone(), request.clone(), any::<bool>())
            .prop_map(|(client, first, second, first_preferred)| Op::Compare { client, first, second, first_preferred }),
        1 => request.clone().prop_map(|request| Op::Close { request }),
        3 => prop_oneof![4 => Just(1i64), 1 => Just(31), 1 => Just(121), 1 => Just(301), 1 => Just(3_601)]
            .prop_map(|secs| Op::Advance { secs }),
        1 => (0u16..=2_000).prop_map(|fee_bps| Op::SetFee { fee_bps }),
        1 => who.clone().prop_map(|server| Op::Deactivate { server }),
        1 => who.clone().prop_map(|server| Op::Reactivate { server }),
        8 => (request.clone(), who).prop_map(|(request, server)| Op::Step { request, server }),
    ]
}

/// A random run's world: three clients, three servers with a tree each, and every address
/// whose lamports are counted.
struct Run {
    w: World,
    clients: Vec<Keypair>,
    servers: Vec<(Keypair, Pubkey)>,
    requests: Vec<Pubkey>,
    cranker: Keypair,
}

impl Run {
    fn new() -> Self {
        let mut w = World::new(300);
        let servers = (0..3u64)
            .map(|i| w.server(offer(1_000_000 + i * 500_000, 2_000_000 + i * 1_000_000), 2))
            .collect();
        let clients = (0..3).map(|_| w.wallet()).collect();
        let cranker = w.wallet();
        Self {
            w,
            clients,
            servers,
            requests: vec![],
            cranker,
        }
    }

    fn tracked(&self) -> Vec<Pubkey> {
        let mut all = vec![
            treasury_address(),
            config_address(),
            self.w.h.admin().pubkey(),
            self.cranker.pubkey(),
            // Light's fee for each receipt lands in the state tree.
            V1_STATE_TREES[0],
        ];
        for client in &self.clients {
            all.push(client.pubkey());
            all.push(counter_address(&client.pubkey()));
        }
        for (operator, tree) in &self.servers {
            all.extend([operator.pubkey(), server_address(&operator.pubkey()), *tree]);
        }
        all.extend(self.requests.iter().copied());
        all
    }

    fn total(&self) -> u128 {
        self.tracked()
            .iter()
            .map(|address| u128::from(self.w.h.lamports(address)))
            .sum()
    }

    fn apply(&mut self, op: &Op) -> Option<Sent> {
        let Run {
            w,
            clients,
            servers,
            requests,
            cranker,
        } = self;
        let at = |requests: &[Pubkey], index: usize| {
            (!requests.is_empty()).then(|| requests[index % requests.len()])
        };
        let rightful = |w: &World, request: &Pubkey| {
            w.h.account::<Request>(request)
                .map(|r| (r.client, r.lock.operator))
        };
        let client_for =
            |w: &World, index: usize, request: &Pubkey| match (index, rightful(w, request)) {
                (3, Some((client, _))) => clients
                    .iter()
                    .find(|k| k.pubkey() == client)
                    .unwrap_or(&clients[0]),
                _ => &clients[index % 3],
            };
        let server_for =
            |w: &World, index: usize, request: &Pubkey| match (index, rightful(w, request)) {
                (3, Some((_, operator))) => servers
                    .iter()
                    .map(|(k, _)| k)
                    .find(|k| k.pubkey() == operator)
                    .unwrap_or(&servers[0].0),
                _ => &servers[index % 3].0,
            };
        Some(match *op {
            Op::Create {
                client,
                stake,
                tokens,
                only,
            } => {
                let mut t = terms();
                t.max_output_tokens = tokens;
                t.allowed_servers = only
                    .map(|s| vec![servers[s].0.pubkey()])
                    .unwrap_or_default();
                let client = &clients[client];
                let nonce = w.next_nonce(&client.pubkey());
                let sent = w.create_request_with_nonce(client, nonce, stake, t);
                if sent.is_ok() {
                    requests.push(request_address(&client.pubkey(), nonce));
                }
                sent
            }
            Op::Cancel { client, request } => w.cancel(&clients[client], &at(requests, request)?),
            Op::Lock { server, request } => {
                let (operator, tree) = &servers[server];
                w.lock(operator, &at(requests, request)?, tree)
            }
            Op::Prompt {
                client,
                request,
                seal,
            } => {
                let request = at(requests, request)?;
                w.prompt(client_for(w, client, &request), &request, vec![3; 48], seal)
            }
            Op::Append {
                server,
                request,
                count,
                tokens,
                last,
            } => {
                let request = at(requests, request)?;
                let next =
                    w.h.account::<Request>(&request)
                        .map_or(0, |r| r.response.next_seq);
                w.append(
                    server_for(w, server, &request),
                    &request,
                    chunks(next, count, tokens, last),
                )
            }
            Op::Complete { server, request } => {
                let request = at(requests, request)?;
                w.h.account::<Request>(&request)?;
                w.complete(server_for(w, server, &request), &request)
            }
            Op::Expire { request } => {
                let request = at(requests, request)?;
                w.h.account::<Request>(&request)?;
                w.expire(cranker, &request)
            }
            Op::Flag { client, request } => {
                let request = at(requests, request)?;
                w.h.account::<Request>(&request)?;
                w.flag(client_for(w, client, &request), &request)
            }
            Op::Compare {
                client,
                first,
                second,
                first_preferred,
            } => {
                let (first, second) = (at(requests, first)?, at(requests, second)?);
                w.h.account::<Request>(&first)?;
                w.h.account::<Request>(&second)?;
                w.compare(
                    client_for(w, client, &first),
                    &first,
                    &second,
                    first_preferred,
                )
            }
            Op::Close { request } => {
                let request = at(requests, request)?;
                w.h.account::<Request>(&request)?;
                w.close(cranker, &request)
            }
            Op::Advance { secs } => {
                w.h.advance(secs);
                return None;
            }
            Op::Step { request, server } => {
                let address = at(requests, request)?;
                let r = w.h.account::<Request>(&address)?;
                let client = client_for(w, 3, &address);
                let operator = server_for(w, 3, &address);
                match r.state {
                    RequestState::Open => {
                        let allowed = r.terms.allowed_servers.first().copied();
                        let (operator, tree) = servers
                            .iter()
                            .find(|(k, _)| Some(k.pubkey()) == allowed)
                            .unwrap_or(&servers[server]);
                        w.lock(operator, &address, tree)
                    }
                    RequestState::Locked => w.prompt(client, &address, vec![5; 40], true),
                    RequestState::Ready if !r.response.finished => {
                        w.append(operator, &address, chunks(r.response.next_seq, 2, 1, true))
                    }
                    RequestState::Ready => w.complete(operator, &address),
                    RequestState::Completed => w.flag(client, &address),
                }
            }
            Op::SetFee { fee_bps } => {
                let admin = w.h.admin();
                w.update_config(&admin, ConfigParams::with_fee(fee_bps))
            }
            Op::Deactivate { server } => {
                let operator = &servers[server].0;
                w.deactivate(operator, &operator.pubkey())
            }
            Op::Reactivate { server } => {
                let operator = &servers[server].0;
                let params = server_params(vec![offer(1_000_000, 2_000_000)], 2);
                w.update_server(operator, &operator.pubkey(), params)
            }
        })
    }

    /// Every live request holds exactly its rent and stake, plus the bond while locked or ready,
    /// or only its rent once completed; each server's active locks match.
    fn check_escrows(&self) -> Result<(), TestCaseError> {
        let mut locks = vec![0u16; self.servers.len()];
        for address in &self.requests {
            let Some(request) = self.w.h.account::<Request>(address) else {
                prop_assert_eq!(
                    self.w.h.lamports(address),
                    0,
                    "a closed request holds nothing"
                );
                continue;
            };
            let expected = match request.state {
                RequestState::Open => request.rent + request.stake,
                RequestState::Locked | RequestState::Ready => {
                    request.rent + request.stake + request.lock.bond
                }
                RequestState::Completed => request.rent,
            };
            prop_assert_eq!(self.w.h.lamports(address), expected, "{:?}", request.state);
            if matches!(request.state, RequestState::Locked | RequestState::Ready) {
                let server = self
                    .servers
                    .iter()
                    .position(|(op, _)| op.pubkey() == request.lock.operator);
                locks[server.expect("locked by a known server")] += 1;
            }
            if request.state == RequestState::Completed {
                let s = request.settlement;
                prop_assert!(s.fee <= s.bill && s.bill <= request.stake);
            }
        }
        for ((operator, _), expected) in self.servers.iter().zip(locks) {
            prop_assert_eq!(self.w.server_of(&operator.pubkey()).active_locks, expected);
        }
        Ok(())
    }

    /// Moves past every window and ends every request: completes what can be, expires or
    /// closes the rest.
    fn drain(&mut self) {
        self.w.h.advance(100_000);
        for address in self.requests.clone() {
            let Some(request) = self.w.h.account::<Request>(&address) else {
                continue;
            };
            let sent = if request.state == RequestState::Completed {
                self.w.close(&self.cranker, &address)
            } else {
                self.w.expire(&self.cranker, &address)
            };
            assert_ok(sent);
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(2_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn lamports_are_conserved_and_escrows_stay_reachable(ops in prop::collection::vec(op(), 1..40)) {
        let mut run = Run::new();
        let mut total = run.total();
        for op in &ops {
            let sent = run.apply(op);
            // Requests created by this step are counted from now on; they were funded from
            // tracked wallets, so the total moves only by the fee.
            let after = run.total();
            let fee = match &sent {
                Some(Ok(meta)) => meta.fee,
                Some(Err(refusal)) => refusal.meta.fee,
                None => 0,
            };
            prop_assert!(total - after == u128::from(fee) || total == after, "{op:?}: {total} → {after}, fee {fee}");
            total = after;
            run.check_escrows()?;
        }
        run.drain();
        let after = run.total();
        prop_assert!(total >= after);
        for address in &run.requests {
            prop_assert_eq!(run.w.h.lamports(address), 0, "every request ends paid or refunded");
        }
        for (operator, _) in &run.servers {
            prop_assert_eq!(run.w.server_of(&operator.pubkey()).active_locks, 0);
        }
    }
}
