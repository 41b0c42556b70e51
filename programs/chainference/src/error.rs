//! Every way an instruction can be refused, each named for what went wrong.

use anchor_lang::prelude::*;

/// Errors of the Chainference program. Off chain, a refusal's code comes back as its variant
/// ([`ChainferenceError::from_code`]), so callers match the enum, never a name.
#[error_code]
#[derive(PartialEq, Eq, num_enum::TryFromPrimitive)]
pub enum ChainferenceError {
    #[msg("only the admin key compiled into the program may initialize or update the config")]
    NotAdmin,
    #[msg("the protocol fee is above its cap of 2,000 bps")]
    FeeTooHigh,
    #[msg("a basis-point value is above 10,000")]
    BpsOutOfRange,
    #[msg("every window and the default time limit must be positive, and the time limit at most a day")]
    InvalidWindow,

    #[msg("a server must offer at least one model")]
    NoModels,
    #[msg("a server may offer at most 16 models")]
    TooManyModels,
    #[msg("a model id must be 1 to 96 bytes")]
    InvalidModelId,
    #[msg("a model revision may be at most 64 bytes")]
    RevisionTooLong,
    #[msg("a quantization label may be at most 32 bytes")]
    QuantizationTooLong,
    #[msg("the same model id is offered twice")]
    DuplicateModel,
    #[msg("the endpoint URL may be at most 128 bytes")]
    EndpointTooLong,
    #[msg("max_concurrent must be at least 1")]
    InvalidMaxConcurrent,
    #[msg("the signer is not this server's operator")]
    NotOperator,

    #[msg("a server may own at most 4 response trees")]
    TooManyTrees,
    #[msg("response trees must have depth 14, 20 or 24 with a buffer of 64")]
    UnsupportedTreeShape,
    #[msg("the tree account must be owned by spl-account-compression")]
    TreeNotCompressionOwned,
    #[msg("this tree is not one of the locking server's response trees")]
    TreeNotBound,
    #[msg("the account is not an initialized spl-account-compression tree")]
    MalformedTree,
    #[msg("the response tree is full; create a new one")]
    TreeFull,

    #[msg("a request may allow at most 8 servers")]
    TooManyAllowedServers,
    #[msg("max_output_tokens must be 1 to 1,000,000")]
    InvalidTokenLimit,
    #[msg("prompt_tokens may be at most 1,000,000")]
    TooManyPromptTokens,
    #[msg("the stake does not cover the prompt at the maximum input price")]
    StakeTooSmall,
    #[msg("the time limit may be at most a day")]
    TimeLimitTooLong,
    #[msg("the nonce is not the client's next nonce")]
    StaleNonce,

    #[msg("the request is not open")]
    RequestNotOpen,
    #[msg("the lock window has passed")]
    LockWindowClosed,
    #[msg("the server is deactivated")]
    ServerInactive,
    #[msg("the request does not allow this server")]
    ServerNotAllowed,
    #[msg("the server does not serve the requested model")]
    ModelNotServed,
    #[msg("the server's input price is above the request's cap")]
    InputPriceAboveCap,
    #[msg("the server's output price is above the request's cap")]
    OutputPriceAboveCap,
    #[msg("the stake is below the server's minimum for this model")]
    StakeBelowServerMinimum,
    #[msg("the server already holds max_concurrent locks")]
    AtMaxConcurrent,
    #[msg("the server has completed fewer requests than the request requires")]
    BelowMinCompleted,
    #[msg("the server's success ratio (Wilson lower bound) is below the request's minimum")]
    BelowMinSuccessRatio,
    #[msg("the server's preference ratio (Wilson lower bound) is below the request's minimum")]
    BelowMinPreferenceRatio,
    #[msg("the server's failure rate is above the request's maximum")]
    AboveMaxFailureRate,

    #[msg("the signer is not the request's client")]
    NotRequestClient,
    #[msg("the request is not waiting for its prompt")]
    RequestNotLocked,
    #[msg("the prompt window has passed")]
    PromptWindowClosed,
    #[msg("a prompt chunk must be 1 to 1,024 bytes")]
    InvalidPromptChunk,
    #[msg("the prompt is over 256 KiB")]
    PromptTooLarge,

    #[msg("the signer is not the server that locked the request")]
    NotLockingServer,
    #[msg("the request is not ready for answer chunks")]
    RequestNotReady,
    #[msg("the request's time limit has passed")]
    TimeLimitPassed,
    #[msg("a batch must hold at least one chunk")]
    EmptyBatch,
    #[msg("a batch may hold at most 64 chunks")]
    BatchTooLarge,
    #[msg("chunk sequence numbers must continue the answer without gaps or repeats")]
    SequenceMismatch,
    #[msg("the answer's final chunk was already posted")]
    ChunkAfterFinal,
    #[msg("only the last chunk of a batch may be final")]
    FinalNotLast,
    #[msg("the answer would exceed the request's max_output_tokens")]
    TokensOverLimit,
    #[msg("a chunk's ciphertext may be at most 1,024 bytes")]
    ChunkTooLarge,
    #[msg("the chunks do not hash to the batch root the server committed to")]
    BatchRootMismatch,

    #[msg("append_batch carries the chunks of on-chain delivery only; a direct request takes append_root")]
    NotChainDelivery,
    #[msg("append_root carries the roots of direct delivery only; an on-chain request takes append_batch")]
    NotDirectDelivery,
    #[msg("a direct request needs a server with an endpoint to deliver from")]
    NoEndpoint,
    #[msg("roots were posted, so the client's acknowledgement of them must come in an ed25519 instruction right before complete_request")]
    AcknowledgementMissing,
    #[msg("the ed25519 instruction must verify one signature of the request's client over its acknowledgement, inside that instruction")]
    AcknowledgementInvalid,
    #[msg("the acknowledgement must name exactly the posted answer: its sequence, tokens and hash chain")]
    AcknowledgementMismatch,

    #[msg("no answer chunk was posted")]
    NoChunksPosted,
    #[msg("the answer's final chunk has not been posted")]
    FinalChunkMissing,

    #[msg("the request's window has not passed yet")]
    NotExpired,
    #[msg("a completed request cannot expire")]
    NotExpirable,
    #[msg("a locked request needs its server and the server's operator to expire")]
    MissingServerAccounts,
    #[msg("the server account is not the one that locked the request")]
    WrongServer,
    #[msg("the wallet is not the server's operator")]
    WrongOperator,
    #[msg("the wallet is not the request's client")]
    WrongClient,

    #[msg("the request is not completed")]
    RequestNotCompleted,
    #[msg("the request was already flagged")]
    AlreadyFlagged,
    #[msg("the flag window has passed")]
    FlagWindowClosed,
    #[msg("the flag window is still open")]
    FlagWindowOpen,
    #[msg("the receipt's Light instruction could not be built")]
    ReceiptNotBuilt,
    #[msg("Light charged more for the receipt than MAX_RECEIPT_FEE: choose another state tree")]
    ReceiptFeeTooHigh,
    #[msg("both compared requests must belong to the signing client")]
    ComparisonClientMismatch,
    #[msg("both compared requests must ask for the same model")]
    ComparisonModelMismatch,
    #[msg("compared requests must be created within the comparison window of each other")]
    ComparisonTooFarApart,
    #[msg("a request may be used in one comparison only")]
    AlreadyCompared,
    #[msg("a comparison needs two different requests answered by two different servers")]
    ComparisonNotDistinct,

    #[msg("arithmetic overflow")]
    ArithmeticOverflow,

    #[msg("the time limit must be at least the prompt window plus MIN_ANSWER_SECS")]
    TimeLimitTooShort,
    #[msg("the answer's time limit has passed")]
    AnswerDeadlinePassed,
    #[msg("the sealed prompt is larger than its declared prompt tokens allow (PROMPT_BYTES_PER_TOKEN)")]
    PromptTokensUnderstated,
    #[msg("a lock needs the operator's signature of its per-request key: an ed25519 instruction right before lock_request")]
    KeySignatureMissing,
    #[msg("the ed25519 instruction must verify one signature of the server's operator over this request's key, inside that instruction")]
    KeySignatureInvalid,
    #[msg("nothing above the account's rent-exempt minimum to withdraw")]
    NothingToWithdraw,
    #[msg("the signer is not the admin proposed by the current admin")]
    NotProposedAdmin,
    #[msg("the lock names weights other than those the server's offer pins")]
    WeightsNotOffered,
}

impl ChainferenceError {
    /// The error whose custom program error code is `code` (6000 and up), if it is one of ours.
    pub fn from_code(code: u32) -> Option<Self> {
        let index = code.checked_sub(anchor_lang::error::ERROR_CODE_OFFSET)?;
        Self::try_from(index).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_comes_back_as_its_error_and_no_other_code_does() {
        for error in [
            ChainferenceError::NotAdmin,
            ChainferenceError::StakeTooSmall,
            ChainferenceError::NotExpired,
        ] {
            assert_eq!(ChainferenceError::from_code(error.into()), Some(error));
        }
        assert_eq!(
            ChainferenceError::from_code(6000),
            Some(ChainferenceError::NotAdmin)
        );
        assert_eq!(ChainferenceError::from_code(5999), None);
        assert_eq!(ChainferenceError::from_code(u32::MAX), None);
    }
}
