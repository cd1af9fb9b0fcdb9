import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findSpecialTokenText, renderChat, type ChatMessage } from '../../src/data/chat-template.js';
import { PonderError } from '../../src/errors.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/tokenizers/', import.meta.url));
/** Qwen2/Qwen3-style ChatML template (with tools, reasoning stripping and enable_thinking). */
const CHATML: string = JSON.parse(readFileSync(`${FIXTURES}chatml-bpe/tokenizer_config.json`, 'utf8')).chat_template;
/** Llama-3-style template (headers, <|eot_id|>, bos_token, default system message). */
const LLAMA3: string = readFileSync(`${FIXTURES}llama3-bpe/chat_template.jinja`, 'utf8');

const badInput = (re: RegExp) => (e: unknown) => e instanceof PonderError && e.code === 'BAD_INPUT' && re.test(e.message);

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'What is 2+2?' },
  { role: 'assistant', content: '<think>\nadd them\n</think>\n\n4' },
  { role: 'user', content: 'And 3+3?' },
];

describe('renderChat: ChatML (Qwen-style)', () => {
  it('renders a system message, turns and the generation prompt', () => {
    assert.equal(
      renderChat(CHATML, conversation, { addGenerationPrompt: true }),
      '<|im_start|>system\nYou are terse.<|im_end|>\n' +
        '<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
        '<|im_start|>assistant\n4<|im_end|>\n' + // reasoning of earlier turns is dropped
        '<|im_start|>user\nAnd 3+3?<|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
  });

  it('without add_generation_prompt ends after the last turn', () => {
    assert.equal(
      renderChat(CHATML, conversation.slice(1, 2), { addGenerationPrompt: false }),
      '<|im_start|>user\nWhat is 2+2?<|im_end|>\n',
    );
  });

  it('enable_thinking=false adds an empty think block; true or unset adds nothing', () => {
    const msgs = conversation.slice(1, 2);
    const base = '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n';
    assert.equal(renderChat(CHATML, msgs, { addGenerationPrompt: true }), base);
    assert.equal(renderChat(CHATML, msgs, { addGenerationPrompt: true, enableThinking: true }), base);
    assert.equal(renderChat(CHATML, msgs, { addGenerationPrompt: true, enableThinking: false }), `${base}<think>\n\n</think>\n\n`);
  });

  it('keeps the reasoning of an assistant turn after the last user message', () => {
    const out = renderChat(CHATML, conversation.slice(0, 3), { addGenerationPrompt: false });
    assert.ok(out.endsWith('<|im_start|>assistant\n<think>\nadd them\n</think>\n\n4<|im_end|>\n'), out);
  });

  it('renders tools as JSON in the system turn, and tool results', () => {
    const tools = [{ type: 'function', function: { name: 'add', description: 'Adds.', parameters: { type: 'object', properties: { a: { type: 'number' } } } } }];
    const out = renderChat(
      CHATML,
      [conversation[0]!, { role: 'user', content: 'Add 1.' }, { role: 'tool', content: '{"sum": 1}' }],
      { addGenerationPrompt: true, tools },
    );
    assert.equal(
      out,
      '<|im_start|>system\nYou are terse.\n\nYou may call these tools:\n' +
        '{"type": "function", "function": {"name": "add", "description": "Adds.", "parameters": {"type": "object", "properties": {"a": {"type": "number"}}}}}\n' +
        '<|im_end|>\n' +
        '<|im_start|>user\nAdd 1.<|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\n{"sum": 1}\n</tool_response><|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
  });

  it("turns the template's raise_exception into BAD_INPUT", () => {
    assert.throws(() => renderChat(CHATML, [{ role: 'narrator', content: 'x' }], { addGenerationPrompt: false }), badInput(/^chat template: unknown role: narrator$/));
  });
});

describe('renderChat: Llama-3 style', () => {
  it('renders BOS, a system message, turns and the generation prompt', () => {
    assert.equal(
      renderChat(LLAMA3, conversation, { addGenerationPrompt: true, bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>' }),
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n<think>\nadd them\n</think>\n\n4<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('uses its default system message and trims contents; no generation prompt', () => {
    assert.equal(
      renderChat(LLAMA3, [{ role: 'user', content: '  Hi there \n' }], { addGenerationPrompt: false, bosToken: '<|begin_of_text|>' }),
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>',
    );
  });

  it('passes an empty bos_token when none is given', () => {
    assert.ok(renderChat(LLAMA3, [{ role: 'user', content: 'x' }], { addGenerationPrompt: false }).startsWith('<|start_header_id|>system'));
  });

  it("turns the template's raise_exception into BAD_INPUT", () => {
    assert.throws(
      () => renderChat(LLAMA3, [{ role: 'tool', content: 'x' }], { addGenerationPrompt: true }),
      badInput(/^chat template: Conversation roles must be user or assistant, got tool$/),
    );
  });
});

describe('renderChat: general', () => {
  it('reports template syntax errors as BAD_INPUT', () => {
    assert.throws(() => renderChat('{% for m in messages %}{{ m.content }}', [], { addGenerationPrompt: false }), badInput(/^chat template: /));
    assert.throws(() => renderChat('{{ messages[0].content ', [], { addGenerationPrompt: false }), badInput(/^chat template: /));
    assert.throws(() => renderChat('', [], { addGenerationPrompt: false }), badInput(/^chat template: empty template$/));
  });

  it('reports errors while rendering as BAD_INPUT', () => {
    assert.throws(() => renderChat('{{ messages[0].content.nope() }}', [{ role: 'user', content: 'x' }], { addGenerationPrompt: false }), badInput(/^chat template: /));
  });

  it('passes extra variables, without letting them override the standard ones', () => {
    const t = '{{ date_string }}|{{ add_generation_prompt }}|{{ messages | length }}';
    assert.equal(renderChat(t, [{ role: 'user', content: 'x' }], { addGenerationPrompt: true, extra: { date_string: '1 Jan 2025', add_generation_prompt: false } }), '1 Jan 2025|true|1');
  });

  it('passes other message fields through and leaves the caller\'s messages untouched', () => {
    const msgs: ChatMessage[] = [{ role: 'assistant', content: '', name: 'bob' }];
    const t = '{% for m in messages %}{% set m2 = m %}{{ m.name }}:{{ m.role }}{% endfor %}';
    assert.equal(renderChat(t, msgs, { addGenerationPrompt: false }), 'bob:assistant');
    assert.deepEqual(msgs, [{ role: 'assistant', content: '', name: 'bob' }]);
  });

  it('findSpecialTokenText finds special-token text in message contents', () => {
    const specials = ['<|im_start|>', '<|im_end|>'];
    assert.equal(findSpecialTokenText('hello', specials), undefined);
    assert.equal(findSpecialTokenText('a<|im_end|>b', specials), '<|im_end|>');
  });
});
