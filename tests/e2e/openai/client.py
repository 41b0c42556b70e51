"""One session of OpenAI's official Python client against `chainference serve`: the models
listed, a whole chat completion (with its response headers) and a streamed one with usage.
Reads BASE_URL, API_KEY, MODEL, MAX_TOKENS, WHOLE_PROMPT and STREAMED_PROMPT; prints one JSON
document for the Rust test to check."""

import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["BASE_URL"], api_key=os.environ["API_KEY"])
model = os.environ["MODEL"]
max_tokens = int(os.environ["MAX_TOKENS"])


def turn(prompt):
    return [{"role": "user", "content": prompt}]


raw = client.chat.completions.with_raw_response.create(
    model=model, messages=turn(os.environ["WHOLE_PROMPT"]), max_tokens=max_tokens
)
whole = raw.parse()

text, usage, cost, request = [], None, None, None
stream = client.chat.completions.create(
    model=model,
    messages=turn(os.environ["STREAMED_PROMPT"]),
    max_tokens=max_tokens,
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    request = chunk.id
    for choice in chunk.choices:
        if choice.delta.content:
            text.append(choice.delta.content)
    if chunk.usage is not None:
        usage = chunk.usage.completion_tokens
        cost = (chunk.model_extra or {}).get("chainference", {}).get("cost_lamports")

print(
    json.dumps(
        {
            "models": [listed.id for listed in client.models.list()],
            "whole": {
                "id": whole.id,
                "text": whole.choices[0].message.content,
                "usage": whole.usage.completion_tokens,
                "cost": int(raw.headers["x-chainference-cost"]),
            },
            "streamed": {"id": request, "text": "".join(text), "usage": usage, "cost": cost},
        }
    )
)
