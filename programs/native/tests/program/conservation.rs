//! Lamport conservation over random sequences of every instruction by several clients and
//! servers with the clock moving, and of the attacker's moves (a client or operator that
//! empties its wallet, gives it to another program or grows it with data, a client that seals
//! late, acknowledges a direct answer falsely or never): nothing is created or lost but fees,
//! every escrow, bond and lock slot stays reachable, and every request ends paid, refunded or
//! still open, with whatever a wallet could not take withdrawable by that wallet alone.

use crate::common::*;
use anchor_lang::prelude::Pubkey;
use chainference::state::*;
use chainference_client_core::instructions::{acknowledgement, append_root};
use chainference_native::svm::solana_keypair::Keypair;
use chainference_native::svm::solana_signer::Signer;
use chainference_native::svm::{config_address, server_address, treasury_address};
use chainference_prover::core::{Acknowledgement, ResponseCursor, RootClaim};
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
        direct: bool,
        time_limit_secs: u32,
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
    /// A direct answer's root, for the chunks the server claims it sent.
    Root {
        server: usize,
        request: usize,
        count: u32,
        tokens: u16,
        last: bool,
    },
    /// A direct completion with the client's acknowledgement as `ack` says.
    CompleteDirect {
        server: usize,
        request: usize,
        ack: Ack,
    },
    /// An attacker's move on its own wallet: `who` < 3 a client, else an operator.
    Sabotage {
        who: usize,
        how: Sabotage,
    },
    /// A wallet withdraws what waits in its account of the program (`who` as in `Sabotage`).
    Withdraw {
        who: usize,
    },
    WithdrawFees,
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

/// What a client signs for a direct completion.
#[derive(Clone, Copy, Debug)]
enum Ack {
    /// Nothing: the server completes on the prompt alone.
    None,
    /// Exactly the posted answer.
    Posted,
    /// `{u32::MAX, 0, 0}`: a poisoned acknowledgement.
    Poisoned,
    /// The posted answer less one token.
    Short,
}

/// How an attacker spoils its own wallet.
#[derive(Clone, Copy, Debug)]
enum Sabotage {
    /// Sends every lamport to the cranker.
    Empty,
    /// Gives it to another program.
    GiveAway,
    /// Gives it 1 KiB of data (a higher rent-exempt minimum).
    Grow,
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..3usize;
    let actor = 0..4usize;
    let request = 0..8usize;
    prop_oneof![
        3 => (who.clone(), 1u64..3_000_000, 1u32..400, prop::option::of(0..3usize), any::<bool>(), prop_oneof![4 => Just(0u32), 1 => Just(1), 1 => Just(59), 1 => Just(60)])
            .prop_map(|(client, stake, tokens, only, direct, time_limit_secs)| Op::Create { client, stake, tokens, only, direct, time_limit_secs }),
        2 => (actor.clone(), request.clone(), 1u32..4, 0u16..120, any::<bool>())
            .prop_map(|(server, request, count, tokens, last)| Op::Root { server, request, count, tokens, last }),
        2 => (actor.clone(), request.clone(), prop_oneof![Just(Ack::None), Just(Ack::Posted), Just(Ack::Poisoned), Just(Ack::Short)])
            .prop_map(|(server, request, ack)| Op::CompleteDirect { server, request, ack }),
        1 => (0..6usize, prop_oneof![Just(Sabotage::Empty), Just(Sabotage::GiveAway), Just(Sabotage::Grow)])
            .prop_map(|(who, how)| Op::Sabotage { who, how }),
        1 => (0..6usize).prop_map(|who| Op::Withdraw { who }),
        1 => Just(Op::WithdrawFees),
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

/// What every server offers: one model and an endpoint (direct requests need one).
fn served() -> ServerParams {
    let mut params = server_params(vec![offer(1_000_000, 2_000_000)], 2);
    params.endpoint = "wss://provider.example/chainference".into();
    params
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
        let servers: Vec<(Keypair, Pubkey)> = (0..3u64)
            .map(|i| w.server(offer(1_000_000 + i * 500_000, 2_000_000 + i * 1_000_000), 2))
            .collect();
        for (operator, _) in &servers {
            assert_ok(w.update_server(operator, &operator.pubkey(), served()));
        }
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
                direct,
                time_limit_secs,
            } => {
                let mut t = terms();
                t.max_output_tokens = tokens;
                t.time_limit_secs = time_limit_secs;
                if direct {
                    t.delivery = Delivery::Direct;
                }
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
            Op::Root {
                server,
                request,
                count,
                tokens,
                last,
            } => {
                let request = at(requests, request)?;
                let r = w.h.account::<Request>(&request)?;
                let batch = chunks(r.response.next_seq, count, tokens, last);
                let (claim, _) = claim_after(&request, &r, batch)?;
                w.append_root(server_for(w, server, &request), &request, &claim)
            }
            Op::CompleteDirect {
                server,
                request,
                ack,
            } => {
                let request = at(requests, request)?;
                let r = w.h.account::<Request>(&request)?;
                let client = client_for(w, 3, &request);
                let posted = r.response;
                let signed = match ack {
                    Ack::None => None,
                    Ack::Posted => Some((posted.next_seq, posted.tokens, posted.chain)),
                    Ack::Poisoned => Some((u32::MAX, 0, [0; 32])),
                    Ack::Short => Some((
                        posted.next_seq,
                        posted.tokens.saturating_sub(1),
                        posted.chain,
                    )),
                };
                let before = signed
                    .map(|(next_seq, tokens, chain)| {
                        let ack = Acknowledgement {
                            next_seq,
                            tokens,
                            chain,
                        };
                        let scope = w.scope(&request);
                        let signature = client.sign_message(&ack.message(&scope)).into();
                        acknowledgement(&scope, &client.pubkey(), &ack, &signature)
                    })
                    .into_iter()
                    .collect();
                w.complete_after(server_for(w, server, &request), &request, before)
            }
            Op::Sabotage { who, how } => {
                let wallet = if who < 3 {
                    &clients[who]
                } else {
                    &servers[who - 3].0
                };
                match how {
                    Sabotage::Empty => w.empty(wallet, cranker, &cranker.pubkey()),
                    Sabotage::GiveAway => w.give_away(wallet, cranker),
                    Sabotage::Grow => w.grow(wallet, cranker, 1_024),
                }
            }
            Op::Withdraw { who } => {
                if who < 3 {
                    w.withdraw_client(&clients[who], cranker, &cranker.pubkey())
                } else {
                    w.withdraw_server(&servers[who - 3].0, cranker, &cranker.pubkey())
                }
            }
            Op::WithdrawFees => {
                let admin = w.h.admin();
                w.withdraw_fees(&admin, &cranker.pubkey())
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
                    RequestState::Ready if r.terms.delivery == Delivery::Direct => {
                        // The acknowledged root and the completion, as the provider sends them.
                        let batch = chunks(r.response.next_seq, 2, 1, true);
                        let (claim, cursor) = claim_after(&address, &r, batch)?;
                        let tree = r.lock.tree;
                        let root = append_root(&operator.pubkey(), &address, &tree, &claim);
                        let ack = Acknowledgement {
                            next_seq: cursor.next_seq,
                            tokens: cursor.tokens,
                            chain: cursor.chain,
                        };
                        let scope = w.scope(&address);
                        let signature = client.sign_message(&ack.message(&scope)).into();
                        let signed = acknowledgement(&scope, &client.pubkey(), &ack, &signature);
                        w.complete_after(operator, &address, vec![root, signed])
                    }
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
                w.update_server(operator, &operator.pubkey(), served())
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
        for account in self.program_accounts() {
            prop_assert!(self.w.h.lamports(&account) >= self.w.rent_floor(&account));
        }
        Ok(())
    }

    /// The accounts of the program that hold what wallets could not take, and the treasury.
    fn program_accounts(&self) -> Vec<Pubkey> {
        let clients = self.clients.iter().map(|c| counter_address(&c.pubkey()));
        let servers = self
            .servers
            .iter()
            .map(|(o, _)| server_address(&o.pubkey()));
        clients
            .chain(servers)
            .chain([treasury_address()])
            .filter(|address| self.w.h.svm.get_account(address).is_some())
            .collect()
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
        // Whatever waits for a wallet in its account of the program, it can take.
        let cranker = self.cranker.pubkey();
        for client in &self.clients {
            let _ = self.w.withdraw_client(client, &self.cranker, &cranker);
        }
        for (operator, _) in &self.servers {
            let _ = self.w.withdraw_server(operator, &self.cranker, &cranker);
        }
        let admin = self.w.h.admin();
        let _ = self.w.withdraw_fees(&admin, &cranker);
    }
}

/// The root claim of `batch` continuing `request`'s posted answer, and the answer's state after
/// it; `None` when it breaks the answer's rules (the program would refuse it the same way).
fn claim_after(
    request: &Pubkey,
    r: &Request,
    batch: Vec<chainference::events::Chunk>,
) -> Option<(RootClaim, ResponseCursor)> {
    let mut cursor = r.response.cursor();
    let before = cursor;
    let views: Vec<_> = batch.iter().map(|chunk| chunk.as_ref()).collect();
    let applied = cursor
        .apply(&request.to_bytes(), r.terms.max_output_tokens, &views)
        .ok()?;
    Some((RootClaim::between(&before, &cursor, applied.root), cursor))
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
        for account in run.program_accounts() {
            prop_assert_eq!(
                run.w.h.lamports(&account),
                run.w.rent_floor(&account),
                "every payout a wallet could not take was withdrawn"
            );
        }
    }
}
