//! The market as a client meets it: the servers' offers grouped by model, their prices and
//! records ([`offers`]), amounts of SOL as people write them ([`amount`]), and a question built
//! against the offers with the program's own rules ([`question`]). Every front end (the CLI,
//! the website, a gateway) calls these rather than restating them.

pub mod amount;
pub mod offers;
pub mod question;

pub use amount::{lamports_of, sol, AmountError, LAMPORTS_PER_SOL};
pub use offers::{
    by_model, cheapest_stake, free_now, mean_first_chunk_secs, preference_ratio, success_ratio,
    tokens_per_second, Offer, Offers, PriceRange, RECENT_SECS,
};
pub use question::{
    check_funds, defaults, time_limit_for, FundsError, QuestionBuilder, QuestionError,
    OVERHEAD_LAMPORTS,
};
