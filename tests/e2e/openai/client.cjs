// One session of OpenAI's official Node client against `chainference serve`: the models
// listed, a whole chat completion (with its response headers) and a streamed one with usage.
// Reads BASE_URL, API_KEY, MODEL, MAX_TOKENS, WHOLE_PROMPT and STREAMED_PROMPT; prints one JSON
// document for the Rust test to check. `openai` is found through NODE_PATH.
const { OpenAI } = require("openai");

async function main() {
  const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY });
  const model = process.env.MODEL;
  const maxTokens = Number(process.env.MAX_TOKENS);
  const turn = (prompt) => [{ role: "user", content: prompt }];

  const { data: whole, response } = await client.chat.completions
    .create({ model, messages: turn(process.env.WHOLE_PROMPT), max_tokens: maxTokens })
    .withResponse();

  const text = [];
  let usage = null;
  let cost = null;
  let request = null;
  const stream = await client.chat.completions.create({
    model,
    messages: turn(process.env.STREAMED_PROMPT),
    max_tokens: maxTokens,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of stream) {
    request = chunk.id;
    for (const choice of chunk.choices) {
      if (choice.delta.content) text.push(choice.delta.content);
    }
    if (chunk.usage) {
      usage = chunk.usage.completion_tokens;
      cost = chunk.chainference ? chunk.chainference.cost_lamports : null;
    }
  }

  const models = [];
  for await (const listed of client.models.list()) models.push(listed.id);
  console.log(
    JSON.stringify({
      models,
      whole: {
        id: whole.id,
        text: whole.choices[0].message.content,
        usage: whole.usage.completion_tokens,
        cost: Number(response.headers.get("x-chainference-cost")),
      },
      streamed: { id: request, text: text.join(""), usage, cost },
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
