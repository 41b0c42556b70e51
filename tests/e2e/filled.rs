//! With no latency bound the provider fills its transactions: every append but the last is a
//! v0 transaction (its fixed accounts from the provider's lookup table) filled to within a
//! few bytes of the 1,232-byte packet, the last one claims payment too, and the answer still
//! arrives whole, billed to the lamport.

use crate::scenario::scenario;
use crate::support::*;
use chainference_prover::core::bill_for;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_latency_bound_every_append_but_the_last_fills_its_transaction() {
    let max_tokens = 2_000;
    let (scenario, answer) = scenario("test/replay-filled")
        .asking("Write at length.", max_tokens)
        .batch_wait_ms(0)
        .answered()
        .await;
    let (chain, request) = (&scenario.chain, &answer.answered.request);
    assert_eq!(answer.text, scenario.expected_answer());
    let bill = bill_for(20, 100_000, max_tokens, 300_000).unwrap();
    assert_eq!(answer.answered.bill, bill);
    scenario.assert_settled(&answer, bill).await;

    let appends = appends(chain, request).await;
    let sizes: Vec<usize> = appends
        .iter()
        .map(|transaction| transaction.bytes)
        .collect();
    let (last, before_last) = sizes.split_last().expect("appends");
    assert!(
        before_last.len() >= 2,
        "a long answer takes several appends: {sizes:?}"
    );
    // The final chunk goes only where the completion fits beside it, so the answer's
    // remainder may end one append early, short of a full packet, when that left no room.
    let (penultimate, filled) = before_last.split_last().expect("appends");
    let is_full = |bytes: usize| (1_228..=1_232).contains(&bytes);
    assert!(
        filled.iter().all(|&bytes| is_full(bytes))
            && (is_full(*penultimate) || penultimate + last > 1_232),
        "filled to the byte: {sizes:?}"
    );
    assert!(*last <= 1_232);
    // v0 through the lookup table: the whole packet left for chunks carries more ciphertext
    // than a legacy transaction's 765 bytes could.
    let first_chunks: usize = appends[0].batches[0]
        .chunks
        .iter()
        .map(|chunk| chunk.ciphertext.len())
        .sum();
    assert!(first_chunks > 840, "{first_chunks} bytes of ciphertext");
    let final_append = appends.last().expect("appends");
    assert!(
        final_append.settled.is_some(),
        "the final append's transaction completes the request: {sizes:?}"
    );
    assert_each_chunk_once(chain, request).await;
    scenario.provider.task.abort();
}
