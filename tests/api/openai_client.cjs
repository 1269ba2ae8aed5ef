// Drives a DeCLAI gateway through the official `openai` npm package (tests/server/tst_http_api.cpp runs it
// with NODE_PATH pointing at a test-time install and NODE_EXTRA_CA_CERTS at the gateway's certificate).
// Prints one JSON object with what each call returned; the C++ test compares it with local generation.
'use strict';
const OpenAI = require('openai');
const parsePrometheus = require('parse-prometheus-text-format');

const env = (name) => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};

async function errorOf(promise) {
  try {
    await promise;
    return { status: 0 };
  } catch (e) {
    return { status: e.status ?? -1, error: e.error ?? null, message: String(e.message) };
  }
}

async function collect(stream) {
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.text ?? choice.delta?.content ?? '';
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return { text, finish, usage, chunks };
}

async function main() {
  const baseURL = env('DECLAI_BASE_URL');
  const model = env('DECLAI_MODEL');
  const prompt = env('DECLAI_PROMPT');
  const chatMessage = env('DECLAI_CHAT_MESSAGE');
  const maxTokens = Number(env('DECLAI_MAX_TOKENS'));
  const client = new OpenAI({ baseURL, apiKey: env('DECLAI_API_KEY'), maxRetries: 0, timeout: 60000 });
  const out = {};

  out.models = (await client.models.list()).data.map((m) => m.id);

  const common = { model, max_tokens: maxTokens, temperature: 0, seed: 7 };
  const completion = await client.completions.create({ ...common, prompt });
  out.completion = {
    text: completion.choices[0].text, finish: completion.choices[0].finish_reason, usage: completion.usage,
    object: completion.object,
  };
  out.completionStream = await collect(await client.completions.create({
    ...common, prompt, stream: true, stream_options: { include_usage: true } }));

  const messages = [{ role: 'user', content: chatMessage }];
  const chat = await client.chat.completions.create({ ...common, messages });
  out.chat = {
    text: chat.choices[0].message.content, finish: chat.choices[0].finish_reason, usage: chat.usage,
    object: chat.object, role: chat.choices[0].message.role,
  };
  const { data: rawChat, response } = await client.chat.completions
    .create({ ...common, messages, max_completion_tokens: maxTokens, max_tokens: undefined })
    .withResponse();
  out.chatTemplateHeader = response.headers.get('x-declai-chat-template');
  out.chatMaxCompletionTokens = rawChat.usage.completion_tokens;
  out.chatStream = await collect(await client.chat.completions.create({
    ...common, messages, stream: true, stream_options: { include_usage: true } }));

  // stop, as a string and as a list, applied to the text (also across token boundaries).
  const stopAt = process.env.DECLAI_STOP;
  if (stopAt) {
    const stopped = await client.completions.create({ ...common, prompt, stop: [stopAt, 'zzzz'] });
    out.stop = { text: stopped.choices[0].text, finish: stopped.choices[0].finish_reason, usage: stopped.usage };
    out.stopStream = await collect(await client.completions.create({
      ...common, prompt, stop: stopAt, stream: true, stream_options: { include_usage: true } }));
  }

  // Errors as the client library sees them.
  const badKey = new OpenAI({ baseURL, apiKey: 'dk_not-a-key', maxRetries: 0 });
  out.errUnauthorized = await errorOf(badKey.completions.create({ ...common, prompt }));
  out.errUnknownModel = await errorOf(client.completions.create({ ...common, model: 'no-such-model', prompt }));
  out.errN = await errorOf(client.completions.create({ ...common, prompt, n: 2 }));

  // /metrics through a real Prometheus text parser.
  const metricsText = await (await fetch(baseURL.replace(/\/v1$/, '') + '/metrics')).text();
  const families = parsePrometheus(metricsText);
  out.metricFamilies = families.map((f) => f.name);
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
