// docs/api.md's JavaScript example: the official `openai` package against a DeCLAI gateway.
// Run: DECLAI_API_KEY=dk_... NODE_EXTRA_CA_CERTS=server.crt node openai-js.cjs https://127.0.0.1:7420/v1
const OpenAI = require('openai');

async function main() {
  const client = new OpenAI({ baseURL: process.argv[2], apiKey: process.env.DECLAI_API_KEY });
  const stream = await client.chat.completions.create({
    model: 'stories260K',
    messages: [{ role: 'user', content: 'Tell me a story.' }],
    max_tokens: 24,
    temperature: 0,
    stream: true,
  });
  for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? '');
  process.stdout.write('\n');
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
