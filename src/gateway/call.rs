//! One API call: the body checked and mapped onto a [`QuestionBuilder`], the stake sized at the
//! cheapest admitted offer and reserved from the budget, then the question asked in a task of
//! its own, so a caller that disconnects leaves the request to finish and be paid (its answer
//! stays on chain, or saved under --answers-dir when delivered directly) and nothing is paid
//! twice. Its text comes back whole or as OpenAI's chunks.

use super::budget::{Refused, Reservation};
use super::openai::{
    conversation, finish_reason, plain_prompt, ApiError, ChatRequest, CompletionRequest, Settings,
    Usage,
};
use super::{unix_now, Gateway};
use crate::cli::ask::DeliveryArg;
use anchor_lang::prelude::Pubkey;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chainference::state::{Delivery, Server};
use chainference_client::accounts::servers;
use chainference_client::ask::{ask, Answered, AskError, AskEvent};
use chainference_client::envelope::Message;
use chainference_client::market::{
    by_model, check_funds, FundsError, QuestionBuilder, QuestionError,
};
use chainference_client::rpc::ChainError;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Header naming the request an answer came from.
pub const REQUEST_HEADER: &str = "x-chainference-request";
/// Header giving an answer's cost, lamports.
pub const COST_HEADER: &str = "x-chainference-cost";

/// Which endpoint a call came to: how its answer is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `chat.completion`.
    Chat,
    /// `text_completion`.
    Completion,
}

/// What the asking task reports, in order.
enum Progress {
    /// The request exists.
    Created(Pubkey),
    /// Answer text, checked and decrypted.
    Text(String),
    /// The answer settled, or the question failed.
    Done(Box<Result<Answered, AskError>>),
}

/// `POST /v1/chat/completions`.
pub async fn chat(
    State(gateway): State<Arc<Gateway>>,
    Json(body): Json<ChatRequest>,
) -> Result<Response, ApiError> {
    let messages = conversation(&body.messages)?;
    respond(gateway, Kind::Chat, messages, body.settings).await
}

/// `POST /v1/completions`.
pub async fn completion(
    State(gateway): State<Arc<Gateway>>,
    Json(body): Json<CompletionRequest>,
) -> Result<Response, ApiError> {
    let prompt = plain_prompt(&body.prompt)?;
    let messages = vec![Message {
        role: "user".into(),
        content: prompt,
    }];
    respond(gateway, Kind::Completion, messages, body.settings).await
}

/// Asks `messages` under `settings` and answers as `kind`.
async fn respond(
    gateway: Arc<Gateway>,
    kind: Kind,
    messages: Vec<Message>,
    settings: Settings,
) -> Result<Response, ApiError> {
    settings.check()?;
    let list = servers(&gateway.chain).await.map_err(chain_down)?;
    let builder = gateway
        .market
        .apply(
            QuestionBuilder::new(settings.model.clone(), 0, "")
                .with_conversation(messages)
                .with_sampling(settings.sampling())
                .with_max_tokens(settings.max_tokens().unwrap_or(gateway.max_tokens))
                .with_answers_dir(Some(gateway.answers_dir.clone())),
        )
        .map_err(|error| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "bad_flags",
                format!("{error:#}"),
            )
        })?;
    let delivery = delivery(gateway.delivery, &builder, &settings.model, &list);
    let builder = builder.with_delivery(delivery);
    let priced = builder.priced_at_cheapest(&list).map_err(refusal)?;
    let question = priced.against(&list).map_err(refusal)?;
    let reservation = gateway
        .budget
        .reserve(question.stake)
        .map_err(over_budget)?;
    check_funds(
        &gateway.chain,
        &solana_signer::Signer::pubkey(gateway.wallet.as_ref()),
        question.stake,
    )
    .await
    .map_err(short)?;

    let (progress, mut updates) = mpsc::unbounded_channel();
    tokio::spawn(asking(gateway.clone(), question, reservation, progress));
    let request = match updates.recv().await {
        Some(Progress::Created(request)) => request,
        Some(Progress::Done(outcome)) => {
            return Err(match *outcome {
                Err(error) => failure(error),
                Ok(_) => not_created(),
            })
        }
        Some(Progress::Text(_)) | None => return Err(not_created()),
    };
    let model = settings.model.clone();
    if settings.stream {
        let include_usage = settings
            .stream_options
            .as_ref()
            .is_some_and(|options| options.include_usage);
        Ok(stream(kind, request, model, include_usage, updates))
    } else {
        whole(kind, request, model, updates).await
    }
}

/// Asks `question` and reports its progress; settles its reservation with the bill (or the
/// whole stake when the outcome is unknown: never less than may have been spent).
async fn asking(
    gateway: Arc<Gateway>,
    question: chainference_client::ask::Question,
    reservation: Reservation,
    progress: mpsc::UnboundedSender<Progress>,
) {
    let stake = question.stake;
    let mut creating = Some(gateway.creating.clone().lock_owned().await);
    let mut created = false;
    let outcome = ask(
        &gateway.chain,
        &gateway.wallet,
        &question,
        |event| match event {
            AskEvent::Created(request) => {
                created = true;
                creating = None;
                let _ = progress.send(Progress::Created(request));
            }
            AskEvent::Text(text) => {
                let _ = progress.send(Progress::Text(text));
            }
            _ => {}
        },
    )
    .await;
    drop(creating);
    match &outcome {
        Ok(answered) => reservation.settle(answered.bill),
        // Expired or never locked: the stake came back.
        Err(AskError::NoServer | AskError::Unfinished { .. }) => reservation.settle(0),
        Err(_) if !created => drop(reservation),
        Err(_) => reservation.settle(stake),
    }
    let _ = progress.send(Progress::Done(Box::new(outcome)));
}

/// The whole answer as one JSON document.
async fn whole(
    kind: Kind,
    request: Pubkey,
    model: String,
    mut updates: mpsc::UnboundedReceiver<Progress>,
) -> Result<Response, ApiError> {
    let mut text = String::new();
    let answered = loop {
        match updates.recv().await {
            Some(Progress::Text(piece)) => text.push_str(&piece),
            Some(Progress::Done(outcome)) => match *outcome {
                Ok(answered) => break answered,
                Err(error) => return Err(failure(error)),
            },
            Some(Progress::Created(_)) => {}
            None => return Err(lost(&request)),
        }
    };
    let usage = Usage::of(answered.prompt_tokens, answered.answer_tokens);
    let finish = finish_reason(answered.finish);
    let choice = match kind {
        Kind::Chat => json!({
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish,
            "logprobs": null,
        }),
        Kind::Completion => json!({
            "index": 0,
            "text": text,
            "finish_reason": finish,
            "logprobs": null,
        }),
    };
    let body = json!({
        "id": request.to_string(),
        "object": object(kind, false),
        "created": unix_now(),
        "model": model,
        "choices": [choice],
        "usage": usage,
        "chainference": settled(&answered),
    });
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(REQUEST_HEADER, header(&request.to_string()));
    headers.insert(COST_HEADER, header(&answered.bill.to_string()));
    Ok(response)
}

/// The answer as server-sent events in OpenAI's chunk format: a first chunk with the role,
/// one per decrypted batch, a last one with the finish reason and the bill, the usage if asked,
/// then `[DONE]`. A question that fails midway ends with an error event.
fn stream(
    kind: Kind,
    request: Pubkey,
    model: String,
    include_usage: bool,
    mut updates: mpsc::UnboundedReceiver<Progress>,
) -> Response {
    let id = request.to_string();
    let created = unix_now();
    let usage_model = model.clone();
    let chunk = move |delta: Value, finish: Option<&str>, extra: Option<Value>| -> Event {
        let choice = match kind {
            Kind::Chat => {
                json!({"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null})
            }
            Kind::Completion => json!({
                "index": 0,
                "text": delta.get("content").cloned().unwrap_or(json!("")),
                "finish_reason": finish,
                "logprobs": null,
            }),
        };
        let mut body = json!({
            "id": id,
            "object": object(kind, true),
            "created": created,
            "model": model,
            "choices": [choice],
        });
        if let Some(extra) = extra {
            body["chainference"] = extra;
        }
        Event::default().data(body.to_string())
    };
    let events = async_stream(move |send| async move {
        if kind == Kind::Chat {
            send(chunk(
                json!({"role": "assistant", "content": ""}),
                None,
                None,
            ));
        }
        loop {
            match updates.recv().await {
                Some(Progress::Text(piece)) => send(chunk(json!({"content": piece}), None, None)),
                Some(Progress::Created(_)) => {}
                Some(Progress::Done(outcome)) => {
                    match *outcome {
                        Ok(answered) => {
                            send(chunk(
                                json!({}),
                                Some(finish_reason(answered.finish)),
                                Some(settled(&answered)),
                            ));
                            if include_usage {
                                let usage =
                                    Usage::of(answered.prompt_tokens, answered.answer_tokens);
                                let mut last = json!({
                                    "id": request.to_string(),
                                    "object": object(kind, true),
                                    "created": created,
                                    "model": usage_model,
                                    "choices": [],
                                    "usage": usage,
                                });
                                last["chainference"] = settled(&answered);
                                send(Event::default().data(last.to_string()));
                            }
                        }
                        Err(error) => {
                            send(Event::default().data(failure(error).body().to_string()))
                        }
                    }
                    break;
                }
                None => {
                    send(Event::default().data(lost(&request).body().to_string()));
                    break;
                }
            }
        }
        send(Event::default().data("[DONE]"));
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    response
        .headers_mut()
        .insert(REQUEST_HEADER, header(&request.to_string()));
    response
}

/// A stream of events from a producer that sends them through a channel.
fn async_stream<F, Fut>(produce: F) -> impl futures_util::Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(Box<dyn Fn(Event) + Send + Sync>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = mpsc::unbounded_channel();
    let send: Box<dyn Fn(Event) + Send + Sync> = Box::new(move |event| {
        let _ = sender.send(Ok(event));
    });
    tokio::spawn(produce(send));
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (event, receiver))
    })
}

/// OpenAI's `object` of an answer of `kind`, whole or a chunk.
fn object(kind: Kind, chunk: bool) -> &'static str {
    match (kind, chunk) {
        (Kind::Chat, false) => "chat.completion",
        (Kind::Chat, true) => "chat.completion.chunk",
        (Kind::Completion, _) => "text_completion",
    }
}

/// What settled, beyond OpenAI's fields: the request, the server, the bill and the refund.
fn settled(answered: &Answered) -> Value {
    json!({
        "request": answered.request.to_string(),
        "server": answered.operator.to_string(),
        "cost_lamports": answered.bill,
        "fee_lamports": answered.fee,
        "refund_lamports": answered.refund,
    })
}

/// A header value of text that is always visible ASCII (addresses, numbers).
fn header(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("invalid"))
}

/// The delivery of a call: `--delivery` if set, else direct when every admitted server
/// offering `model` lists an endpoint, on chain otherwise.
fn delivery(
    chosen: Option<DeliveryArg>,
    builder: &QuestionBuilder,
    model: &str,
    list: &[(Pubkey, Server)],
) -> Delivery {
    if let Some(chosen) = chosen {
        return chosen.into();
    }
    let models = by_model(list);
    let admitted = models
        .get(model)
        .map(|offers| offers.admitted(builder.servers(), &builder.filters()))
        .unwrap_or_default();
    if !admitted.is_empty()
        && admitted
            .iter()
            .all(|offer| !offer.server.endpoint.is_empty())
    {
        Delivery::Direct
    } else {
        Delivery::Chain
    }
}

/// The chain could not be read: 503.
pub fn chain_down(error: ChainError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_error",
        "chain_unreachable",
        format!("the chain could not be read ({error}): check the server's --url and try again"),
    )
}

/// A question refused before a lamport moved, in OpenAI's terms.
fn refusal(error: QuestionError) -> ApiError {
    let message = error.to_string();
    match error {
        QuestionError::ModelNotOffered(_) => ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!("{message}: GET /v1/models lists what is offered"),
        ),
        QuestionError::NoServerAdmitted(_)
        | QuestionError::NoServerMayLock { .. }
        | QuestionError::AboveCaps { .. }
        | QuestionError::ContextTooShort { .. } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "no_server",
            message,
        ),
        QuestionError::Chain(error) => chain_down(error),
        QuestionError::TokenLimit(_) => ApiError::invalid("max_tokens", message),
        QuestionError::PromptTooLong { .. } => ApiError::invalid("messages", message),
        QuestionError::StakeBelowPrompt { .. }
        | QuestionError::TooManyServers(_)
        | QuestionError::Envelope(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_value",
            message,
        ),
    }
}

/// A call the budget or the most per call refuses: 402.
fn over_budget(refused: Refused) -> ApiError {
    let code = match refused {
        Refused::AboveMaxCost { .. } => "above_max_cost",
        Refused::OverBudget { .. } => "over_budget",
    };
    ApiError::new(
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_quota",
        code,
        refused.to_string(),
    )
}

/// The wallet cannot pay: 402 (or 503 if its balance could not be read).
fn short(error: FundsError) -> ApiError {
    match error {
        FundsError::Chain(error) => chain_down(error),
        error @ FundsError::Short { .. } => ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_quota",
            "insufficient_balance",
            format!("{error}: fund the wallet the server pays from"),
        ),
    }
}

/// A question that failed after it was sent, in OpenAI's terms.
fn failure(error: AskError) -> ApiError {
    let message = error.to_string();
    match error {
        AskError::NoServer => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "no_server",
            message,
        ),
        AskError::Unfinished { .. } => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "server_error",
            "time_limit",
            message,
        ),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "server_error",
            "answer_failed",
            message,
        ),
    }
}

/// The request was not created: nothing moved.
fn not_created() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "no_request",
        "the request was not created, and no lamport moved: try again",
    )
}

/// The asking task ended without a word (it panicked).
fn lost(request: &Pubkey) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "lost",
        format!("the answer to request {request} was not followed to its end: `chainference ask --resume {request}` reattaches to it"),
    )
}
