//! Every way an instruction can be refused, each with its named error, and nothing moved.

use crate::common::*;
use chainference::constants::*;
use chainference::error::ChainferenceError as E;
use chainference::events::Chunk;
use chainference::state::*;
use chainference_native::svm::solana_keypair::Keypair;
use chainference_native::svm::solana_signer::Signer;

use anchor_lang::prelude::Pubkey;

/// A world with one server (prices 1 and 2 lamports a token, 2 locks at once) and a client.
fn setup() -> (World, Keypair, Pubkey, Keypair) {
    let mut w = World::new(0);
    let (operator, tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let client = w.wallet();
    (w, operator, tree, client)
}

#[test]
fn config_only_by_the_admin_and_within_bounds() {
    let mut w = World::new(0);
    let intruder = w.wallet();
    let mut other = World {
        h: chainference_native::svm::Harness::new(),
    };
    let stranger = other.wallet();
    // initialize_config by anyone but the compiled-in admin.
    let accounts = chainference::accounts::InitializeConfig {
        admin: stranger.pubkey(),
        config: chainference_native::svm::config_address(),
        treasury: chainference_native::svm::treasury_address(),
        system_program: anchor_lang::system_program::ID,
    };
    let ix = anchor_lang::solana_program::instruction::Instruction {
        program_id: chainference::ID,
        accounts: anchor_lang::ToAccountMetas::to_account_metas(&accounts, None),
        data: anchor_lang::InstructionData::data(&chainference::instruction::InitializeConfig {
            params: ConfigParams::with_fee(0),
            cluster: [0; 32],
        }),
    };
    assert_refused(other.h.send(&[ix], &stranger, &[]), E::NotAdmin);
    // update_config by a wrong signer, and out-of-bounds values by the admin.
    assert_refused(
        w.update_config(&intruder, ConfigParams::with_fee(100)),
        E::NotAdmin,
    );
    let admin = w.h.admin();
    assert_refused(
        w.update_config(&admin, ConfigParams::with_fee(MAX_FEE_BPS + 1)),
        E::FeeTooHigh,
    );
    let mut params = ConfigParams::with_fee(0);
    params.bond_bps = 10_001;
    assert_refused(w.update_config(&admin, params), E::BpsOutOfRange);
    params = ConfigParams::with_fee(0);
    params.flag_window_secs = 0;
    assert_refused(w.update_config(&admin, params), E::InvalidWindow);
    assert_ok(w.update_config(&admin, ConfigParams::with_fee(MAX_FEE_BPS)));
}

#[test]
fn servers_refuse_bad_offers_and_wrong_signers() {
    let (mut w, operator, _, client) = setup();
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(ServerParams, E)> = vec![
        (server_params(vec![], 1), E::NoModels),
        (
            server_params(
                (0..17)
                    .map(|i| ModelOffer {
                        id: format!("m{i}"),
                        ..offer(1, 1)
                    })
                    .collect(),
                1,
            ),
            E::TooManyModels,
        ),
        (
            server_params(
                vec![ModelOffer {
                    id: String::new(),
                    ..offer(1, 1)
                }],
                1,
            ),
            E::InvalidModelId,
        ),
        (
            server_params(
                vec![ModelOffer {
                    id: long(MAX_MODEL_ID_LEN + 1),
                    ..offer(1, 1)
                }],
                1,
            ),
            E::InvalidModelId,
        ),
        (
            server_params(
                vec![ModelOffer {
                    revision: long(MAX_REVISION_LEN + 1),
                    ..offer(1, 1)
                }],
                1,
            ),
            E::RevisionTooLong,
        ),
        (
            server_params(
                vec![ModelOffer {
                    quantization: long(MAX_QUANTIZATION_LEN + 1),
                    ..offer(1, 1)
                }],
                1,
            ),
            E::QuantizationTooLong,
        ),
        (
            server_params(vec![offer(1, 1), offer(2, 2)], 1),
            E::DuplicateModel,
        ),
        (
            ServerParams {
                endpoint: long(MAX_ENDPOINT_LEN + 1),
                ..server_params(vec![offer(1, 1)], 1)
            },
            E::EndpointTooLong,
        ),
        (server_params(vec![offer(1, 1)], 0), E::InvalidMaxConcurrent),
    ];
    let newcomer = w.wallet();
    for (params, expected) in cases {
        assert_refused(w.register(&newcomer, params.clone()), expected);
        assert_refused(
            w.update_server(&operator, &operator.pubkey(), params),
            expected,
        );
    }
    // Wrong signers: the client updating, deactivating or growing the operator's server.
    let params = server_params(vec![offer(1, 1)], 1);
    assert_refused(
        w.update_server(&client, &operator.pubkey(), params),
        E::NotOperator,
    );
    assert_refused(w.deactivate(&client, &operator.pubkey()), E::NotOperator);
    // Tree shapes and count.
    let odd =
        w.h.create_tree(&operator, 15, 64)
            .expect_err("depth 15 is not offered");
    assert_eq!(
        chainference_native::svm::error_code(&odd),
        Some(6000 + E::UnsupportedTreeShape as u32)
    );
    for _ in 1..MAX_TREES {
        w.h.create_tree(&operator, DEPTH, BUFFER)
            .expect("room for more trees");
    }
    let fifth =
        w.h.create_tree(&operator, DEPTH, BUFFER)
            .expect_err("at most four trees");
    assert_eq!(
        chainference_native::svm::error_code(&fifth),
        Some(6000 + E::TooManyTrees as u32)
    );
}

#[test]
fn requests_refuse_oversized_or_unpayable_terms() {
    let (mut w, _, _, client) = setup();
    let before = w.h.lamports(&client.pubkey());
    let with = |change: &dyn Fn(&mut RequestTerms)| {
        let mut t = terms();
        change(&mut t);
        t
    };
    let cases: Vec<(u64, RequestTerms, E)> = vec![
        (
            1_000,
            with(&|t| t.model = "m".repeat(MAX_MODEL_ID_LEN + 1)),
            E::InvalidModelId,
        ),
        (
            1_000,
            with(&|t| t.allowed_servers = vec![Pubkey::new_unique(); MAX_ALLOWED_SERVERS + 1]),
            E::TooManyAllowedServers,
        ),
        (
            1_000,
            with(&|t| t.max_output_tokens = 0),
            E::InvalidTokenLimit,
        ),
        (
            1_000,
            with(&|t| t.max_output_tokens = MAX_OUTPUT_TOKENS + 1),
            E::InvalidTokenLimit,
        ),
        (
            1_000,
            with(&|t| t.prompt_tokens = MAX_PROMPT_TOKENS + 1),
            E::TooManyPromptTokens,
        ),
        (
            1_000,
            with(&|t| t.time_limit_secs = MAX_TIME_LIMIT_SECS + 1),
            E::TimeLimitTooLong,
        ),
        (
            1_000,
            with(&|t| t.filters.min_success_bps = 10_001),
            E::BpsOutOfRange,
        ),
        // 100 prompt tokens at 10 lamports each need 1,000 lamports.
        (999, terms(), E::StakeTooSmall),
        (0, with(&|t| t.max_input_price = 0), E::StakeTooSmall),
        // The worst bill does not fit in u64.
        (
            u64::MAX,
            with(&|t| {
                t.max_output_price = u64::MAX;
                t.max_output_tokens = MAX_OUTPUT_TOKENS;
            }),
            E::ArithmeticOverflow,
        ),
    ];
    for (stake, request_terms, expected) in cases {
        assert_refused(
            w.create_request(&client, stake, request_terms)
                .map(|_| unreachable!()),
            expected,
        );
    }
    // A skipped nonce, and a used one whose request was closed (the address would be free).
    assert_refused(
        w.create_request_with_nonce(&client, 1, 1_000, terms()),
        E::StaleNonce,
    );
    let first = w.create_request(&client, 1_000, terms()).expect("nonce 0");
    assert_ok(w.cancel(&client, &first));
    assert_refused(
        w.create_request_with_nonce(&client, 0, 1_000, terms()),
        E::StaleNonce,
    );
    assert_eq!(w.next_nonce(&client.pubkey()), 1);
    // Only the one request moved lamports (its rent, the counter's, the stake and fees).
    assert!(w.h.lamports(&client.pubkey()) < before);
}

#[test]
fn locks_refuse_servers_that_may_not_take_the_request() {
    let (mut w, operator, tree, client) = setup();
    let stake = 1_000_000;
    let make = |w: &mut World, change: &dyn Fn(&mut RequestTerms)| {
        let mut t = terms();
        change(&mut t);
        w.create_request(&client, stake, t).expect("create_request")
    };
    let other = Pubkey::new_unique();
    let cases: Vec<(Pubkey, E)> = vec![
        (
            make(&mut w, &|t| t.allowed_servers = vec![other]),
            E::ServerNotAllowed,
        ),
        (
            make(&mut w, &|t| t.model = "another/model".into()),
            E::ModelNotServed,
        ),
        (
            make(&mut w, &|t| t.max_input_price = 999_999),
            E::InputPriceAboveCap,
        ),
        (
            make(&mut w, &|t| t.max_output_price = 1_999_999),
            E::OutputPriceAboveCap,
        ),
        (
            make(&mut w, &|t| t.filters.min_completed = 1),
            E::BelowMinCompleted,
        ),
        (
            make(&mut w, &|t| t.filters.min_success_bps = 1),
            E::BelowMinSuccessRatio,
        ),
        (
            make(&mut w, &|t| t.filters.min_preference_bps = 1),
            E::BelowMinPreferenceRatio,
        ),
    ];
    for (request, expected) in cases {
        let before = w.h.lamports(&request);
        assert_refused(w.lock(&operator, &request, &tree), expected);
        assert_eq!(w.h.lamports(&request), before);
    }
    // The allowed server may, by its operator key.
    let allowed = make(&mut w, &|t| t.allowed_servers = vec![operator.pubkey()]);
    // A wrong signer for the server.
    assert_refused(
        w.lock_for(&client, &operator.pubkey(), &allowed, &tree),
        E::NotOperator,
    );
    // Another server's tree.
    let (rival, rival_tree) = w.server(offer(1_000_000, 2_000_000), 1);
    assert_refused(w.lock(&operator, &allowed, &rival_tree), E::TreeNotBound);
    assert_ok(w.lock(&operator, &allowed, &tree));
    // A second lock.
    assert_refused(w.lock(&rival, &allowed, &rival_tree), E::RequestNotOpen);
    // max_concurrent is 2.
    let second = make(&mut w, &|_| ());
    assert_ok(w.lock(&operator, &second, &tree));
    let third = make(&mut w, &|_| ());
    assert_refused(w.lock(&operator, &third, &tree), E::AtMaxConcurrent);
    // The server's minimum stake.
    let mut pricey = offer(1_000_000, 2_000_000);
    pricey.min_stake = stake + 1;
    assert_ok(w.update_server(&rival, &rival.pubkey(), server_params(vec![pricey], 1)));
    assert_refused(
        w.lock(&rival, &third, &rival_tree),
        E::StakeBelowServerMinimum,
    );
    // A deactivated server.
    assert_ok(w.deactivate(&rival, &rival.pubkey()));
    assert_refused(w.lock(&rival, &third, &rival_tree), E::ServerInactive);
    // Outside the lock window.
    w.h.advance(121);
    assert_ok(w.update_server(
        &rival,
        &rival.pubkey(),
        server_params(vec![offer(1_000_000, 2_000_000)], 1),
    ));
    assert_refused(w.lock(&rival, &third, &rival_tree), E::LockWindowClosed);
}

#[test]
fn failure_rates_above_the_maximum_are_refused() {
    let (mut w, operator, tree, client) = setup();
    // One failure: a ready request left to expire.
    let failed = w
        .create_request(&client, 1_000_000, terms())
        .expect("create_request");
    w.ready(&client, &operator, &tree, &failed);
    w.h.advance(301);
    assert_ok(w.expire(&client, &failed));
    assert_eq!(w.server_of(&operator.pubkey()).reputation.failures, 1);
    let mut picky = terms();
    picky.filters.max_failure_bps = 9_999;
    let request = w
        .create_request(&client, 1_000_000, picky)
        .expect("create_request");
    assert_refused(w.lock(&operator, &request, &tree), E::AboveMaxFailureRate);
}

#[test]
fn prompts_only_from_the_client_inside_the_window_and_limits() {
    let (mut w, operator, tree, client) = setup();
    let request = w
        .create_request(&client, 1_000_000, terms())
        .expect("create_request");
    assert_refused(
        w.prompt(&client, &request, vec![1], true),
        E::RequestNotLocked,
    );
    assert_ok(w.lock(&operator, &request, &tree));
    assert_refused(
        w.prompt(&operator, &request, vec![1], true),
        E::NotRequestClient,
    );
    assert_refused(
        w.prompt(&client, &request, vec![], false),
        E::InvalidPromptChunk,
    );
    assert_refused(
        w.prompt(&client, &request, vec![1; MAX_PROMPT_CHUNK_LEN + 1], false),
        E::InvalidPromptChunk,
    );
    // A prompt over the total limit.
    let chunks = MAX_PROMPT_LEN as usize / MAX_PROMPT_CHUNK_LEN;
    for i in 0..chunks {
        // Spread over the window: each transaction differs by its data.
        assert_ok(w.prompt(
            &client,
            &request,
            vec![i as u8; MAX_PROMPT_CHUNK_LEN],
            false,
        ));
    }
    assert_refused(
        w.prompt(&client, &request, vec![9], true),
        E::PromptTooLarge,
    );
    // After its window.
    w.h.advance(31);
    assert_refused(
        w.prompt(&client, &request, vec![1], true),
        E::PromptWindowClosed,
    );
}

#[test]
fn appends_refuse_strangers_gaps_repeats_and_overruns() {
    let (mut w, operator, tree, client) = setup();
    let (rival, rival_tree) = w.server(offer(1_000_000, 2_000_000), 1);
    let mut small = terms();
    small.max_output_tokens = 100;
    let request = w
        .create_request(&client, 1_000_000, small)
        .expect("create_request");
    assert_ok(w.lock(&operator, &request, &tree));
    assert_refused(
        w.append(&operator, &request, chunks(0, 1, 1, false)),
        E::RequestNotReady,
    );
    assert_ok(w.prompt(&client, &request, vec![1; 32], true));

    // Another server, or another server's tree.
    assert_refused(
        w.append(&rival, &request, chunks(0, 1, 1, false)),
        E::NotLockingServer,
    );
    let batch = chunks(0, 1, 1, false);
    let root = root_of(&request, &batch);
    assert_refused(
        w.append_to(&operator, &request, &rival_tree, root, batch),
        E::TreeNotBound,
    );
    // Empty, too many chunks, oversized ciphertext.
    assert_refused(
        w.append_with_root(&operator, &request, [0; 32], vec![]),
        E::EmptyBatch,
    );
    assert_refused(
        w.append(&operator, &request, chunks(0, 65, 1, false)),
        E::BatchTooLarge,
    );
    let mut fat = chunks(0, 1, 1, false);
    fat[0].ciphertext = vec![0; MAX_CHUNK_LEN + 1];
    assert_refused(w.append(&operator, &request, fat), E::ChunkTooLarge);
    // Gaps and repeats in sequence numbers.
    assert_refused(
        w.append(&operator, &request, chunks(1, 2, 1, false)),
        E::SequenceMismatch,
    );
    let mut repeated = chunks(0, 2, 1, false);
    repeated[1].seq = 0;
    assert_refused(w.append(&operator, &request, repeated), E::SequenceMismatch);
    // A final chunk that is not the batch's last.
    let mut early_final = chunks(0, 2, 1, false);
    early_final[0].is_final = true;
    assert_refused(w.append(&operator, &request, early_final), E::FinalNotLast);
    // Chunks that do not hash to the committed root.
    let batch = chunks(0, 2, 1, false);
    let mut root = root_of(&request, &batch);
    root[0] ^= 1;
    assert_refused(
        w.append_with_root(&operator, &request, root, batch),
        E::BatchRootMismatch,
    );
    // Over max_output_tokens (100).
    assert_refused(
        w.append(&operator, &request, chunks(0, 2, 51, false)),
        E::TokensOverLimit,
    );
    let overflow = vec![Chunk {
        tokens: u16::MAX,
        ..chunks(0, 1, 1, false)[0].clone()
    }];
    assert_refused(w.append(&operator, &request, overflow), E::TokensOverLimit);

    // A good batch, then a repeat of it.
    assert_ok(w.append(&operator, &request, chunks(0, 2, 10, false)));
    assert_refused(
        w.append(&operator, &request, chunks(0, 2, 10, false)),
        E::SequenceMismatch,
    );
    assert_ok(w.append(&operator, &request, chunks(2, 1, 10, true)));
    // Nothing after the final chunk.
    assert_refused(
        w.append(&operator, &request, chunks(3, 1, 1, false)),
        E::ChunkAfterFinal,
    );
    // After the time limit.
    let late = w
        .create_request(&client, 1_000_000, terms())
        .expect("create_request");
    w.ready(&client, &operator, &tree, &late);
    w.h.advance(301);
    assert_refused(
        w.append(&operator, &late, chunks(0, 1, 1, true)),
        E::TimeLimitPassed,
    );
}

#[test]
fn completion_needs_a_whole_answer_in_time_once() {
    let (mut w, operator, tree, client) = setup();
    let request = w
        .create_request(&client, 1_000_000, terms())
        .expect("create_request");
    w.ready(&client, &operator, &tree, &request);
    assert_refused(w.complete(&operator, &request), E::NoChunksPosted);
    assert_ok(w.append(&operator, &request, chunks(0, 1, 5, false)));
    assert_refused(w.complete(&operator, &request), E::FinalChunkMissing);
    assert_ok(w.append(&operator, &request, chunks(1, 1, 5, true)));
    let stranger = w.wallet();
    assert_refused(w.complete(&stranger, &request), E::NotLockingServer);
    assert_ok(w.complete(&operator, &request));
    assert_refused(w.complete(&operator, &request), E::RequestNotReady);

    let late = w
        .create_request(&client, 1_000_000, terms())
        .expect("create_request");
    w.ready(&client, &operator, &tree, &late);
    assert_ok(w.append(&operator, &late, chunks(0, 1, 5, true)));
    w.h.advance(301);
    assert_refused(w.complete(&operator, &late), E::TimeLimitPassed);
}

#[test]
fn cancel_and_expire_only_when_their_time_has_come() {
    let (mut w, operator, tree, client) = setup();
    let request = w
        .create_request(&client, 1_000_000, terms())
        .expect("create_request");
    let stranger = w.wallet();
    assert_refused(w.cancel(&stranger, &request), E::NotRequestClient);
    assert_refused(w.expire(&stranger, &request), E::NotExpired);
    assert_ok(w.lock(&operator, &request, &tree));
    assert_refused(w.cancel(&client, &request), E::RequestNotOpen);
    assert_refused(w.expire(&stranger, &request), E::NotExpired);
    assert_ok(w.prompt(&client, &request, vec![1], true));
    w.h.advance(300);
    assert_refused(w.expire(&stranger, &request), E::NotExpired);
    assert_ok(w.append(&operator, &request, chunks(0, 1, 5, true)));
    assert_ok(w.complete(&operator, &request));
    assert_refused(w.expire(&stranger, &request), E::NotExpirable);
}

#[test]
fn flags_and_comparisons_once_by_their_client_in_their_window() {
    let (mut w, operator, tree, client) = setup();
    let (rival, rival_tree) = w.server(offer(1_000_000, 2_000_000), 2);
    let first = w.completed(&client, &operator, &tree, 1_000_000);
    let second = w.completed(&client, &rival, &rival_tree, 1_000_000);
    let stranger = w.wallet();
    assert_refused(w.flag(&stranger, &first), E::NotRequestClient);
    assert_ok(w.flag(&client, &first));
    assert_refused(w.flag(&client, &first), E::AlreadyFlagged);

    // Another client's request.
    let theirs = w.completed(&stranger, &rival, &rival_tree, 1_000_000);
    assert_refused(
        w.compare(&client, &first, &theirs, true),
        E::ComparisonClientMismatch,
    );
    // Another model.
    let mut other_model = offer(1_000_000, 2_000_000);
    other_model.id = "another/model".into();
    assert_ok(w.update_server(
        &rival,
        &rival.pubkey(),
        server_params(vec![offer(1_000_000, 2_000_000), other_model], 2),
    ));
    let mut t = terms();
    t.model = "another/model".into();
    let different = w
        .create_request(&client, 1_000_000, t)
        .expect("create_request");
    w.ready(&client, &rival, &rival_tree, &different);
    assert_ok(w.append(&rival, &different, chunks(0, 1, 1, true)));
    assert_ok(w.complete(&rival, &different));
    assert_refused(
        w.compare(&client, &first, &different, true),
        E::ComparisonModelMismatch,
    );
    // The same server twice.
    let again = w.completed(&client, &operator, &tree, 1_000_000);
    assert_refused(
        w.compare(&client, &first, &again, true),
        E::ComparisonNotDistinct,
    );
    // A good comparison, then its reuse.
    assert_ok(w.compare(&client, &first, &second, false));
    assert_eq!(w.server_of(&rival.pubkey()).reputation.preferred, 1);
    assert_eq!(w.server_of(&operator.pubkey()).reputation.comparisons, 1);
    assert_refused(
        w.compare(&client, &first, &second, true),
        E::AlreadyCompared,
    );
    // Too far apart: a request created after the comparison window.
    w.h.advance(61);
    let later = w.completed(&client, &rival, &rival_tree, 1_000_000);
    assert_refused(
        w.compare(&client, &again, &later, true),
        E::ComparisonTooFarApart,
    );
    // Close before the flag window passes, then flag and compare after it.
    assert_refused(w.close(&stranger, &later), E::FlagWindowOpen);
    w.h.advance(3_601);
    assert_refused(w.flag(&client, &later), E::FlagWindowClosed);
    let locked = w
        .create_request(&client, 1_000_000, terms())
        .expect("create_request");
    assert_ok(w.lock(&operator, &locked, &tree));
    assert_refused(w.flag(&client, &locked), E::RequestNotCompleted);
    assert_refused(w.close(&stranger, &locked), E::RequestNotCompleted);
    assert_ok(w.close(&stranger, &later));
}
