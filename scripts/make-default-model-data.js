#!/usr/bin/env node
/**
 * Writes the SFT data of ponder's bundled default model from ponder's own arithmetic task and a
 * handful of conversation templates. Deterministic: the same seed writes the same file, so with the
 * commands in recipes/default-model.yaml's header `ponder tune recipes/default-model.yaml`
 * reproduces models/default.
 *
 *   npm run build && node scripts/make-default-model-data.js [--n 6000] [--seed 11] [--out FILE]
 *                                    [--level small|two-digit|default|hard] [--working columns|scratchpad]
 *
 * `--level small` (the default) is the kind of data the first bundled model was trained on
 * (recipes/data/default-chat.jsonl, which the papers' example recipes use); `--level default` draws
 * from the arithmetic task's default level too (3-digit + and -, 2-digit x 2-digit: half the
 * problems, the rest 1- and 2-digit as a curriculum); `--level hard` asks the default level alone (the
 * curated set of the bundled model's second SFT stage); `--level two-digit` asks only 1- and 2-digit
 * + and - (a curated set for the second, SFT stage of recipes/phi4-mini-style.yaml); and `--working scratchpad` writes the working
 * in the task's scratchpad form (each step reads the line above), which small models learn sooner.
 *
 * What the model is taught (a tiny byte-level model can learn this in well under an hour on a CPU):
 *   - arithmetic, 1- and 2-digit + and -, 1-digit *, asked in several phrasings, answered with the
 *     column-by-column working inside <think>...</think> and a one-line answer after it;
 *   - the same with thinking switched off: an empty <think>\n\n</think>\n\n block (what the chat
 *     prompt ends with under `/think off`) and the answer alone;
 *   - short replies about itself to greetings, thanks and questions about what it is, and a polite
 *     "only arithmetic" answer to everything else, so it stays honest off its one skill;
 *   - a few two-turn conversations, so an earlier exchange in the context does not derail it.
 */
import { writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { arithmeticTask, parsePrompt, evaluate } = await import(`${root}/dist/src/tasks/arithmetic.js`);
const { drawU32 } = await import(`${root}/dist/src/sample/rng.js`);

function flag(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const N = Number(flag('--n', '6000'));
const SEED = Number(flag('--seed', '11'));
const OUT = resolve(flag('--out', `${root}/recipes/data/default-chat.jsonl`));
const LEVEL = flag('--level', 'small');
const WORKING = flag('--working', 'columns');
if (!['small', 'two-digit', 'default', 'hard'].includes(LEVEL)) throw new Error(`--level must be small, two-digit, default or hard (got ${LEVEL})`);
if (!['columns', 'scratchpad'].includes(WORKING)) throw new Error(`--working must be columns or scratchpad (got ${WORKING})`);

/** Uniform choices from one Philox stream (domain "data"), independent of the task's draws. */
let block = 0;
let buf = [];
function u32() {
  if (buf.length === 0) buf = [...drawU32(SEED, 0, 0, block++, 0x64617461)];
  return buf.shift();
}
const below = (n) => u32() % n; // n is tiny: the modulo bias is ~1e-9
const pick = (xs) => xs[below(xs.length)];

const OP_WORDS = { '+': ['plus', '+'], '-': ['minus', '-'], '*': ['times', '*', 'x'] };
function phrase(a, op, b) {
  const w = pick(OP_WORDS[op]);
  return pick([
    `What is ${a} ${op} ${b}?`,
    `What is ${a} ${op} ${b}?`,
    `what is ${a} ${w} ${b}?`,
    `${a} ${op} ${b}`,
    `${a}${op}${b}`,
    `${a} ${op} ${b} = ?`,
    `Compute ${a} ${op} ${b}.`,
    `How much is ${a} ${w} ${b}?`,
    `Can you work out ${a} ${op} ${b}?`,
    `What's ${a} ${w} ${b}?`,
  ]);
}

/** The task options of problem i: the small level (1- and 2-digit + and -, the times table), two-digit + and - alone, or the default level's mix. */
function problemOptions() {
  if (LEVEL === 'default') {
    const r = below(10);
    const op = pick(['+', '-', '*']);
    // half at the task's default level (no digits: 3 for + and -, 2 for *), the rest smaller
    return r < 5 ? { ops: [op] } : { ops: [op], digits: r < 7 ? 1 : 2 };
  }
  if (LEVEL === 'hard') return { ops: [pick(['+', '-', '*'])] };
  if (LEVEL === 'two-digit') return { ops: [pick(['+', '-'])], digits: 2 };
  const digits = below(5) < 2 ? 1 : 2;
  const op = pick(digits === 1 ? ['+', '-', '*'] : ['+', '+', '-', '-', '*']);
  return { ops: [op], digits: op === '*' ? 1 : digits }; // keep * to the times table at this level
}

/** One arithmetic exchange: [user, assistant]. */
function arithmetic(i, think) {
  const opts = problemOptions();
  const op = opts.ops[0];
  const [p] = arithmeticTask.generate(1, SEED * 7919 + i, opts);
  const parsed = parsePrompt(p.prompt);
  const { a, b } = parsed;
  const value = evaluate(parsed);
  const steps = arithmeticTask.goldCot(p, { working: WORKING }).split('\n').filter((l) => !l.startsWith('Answer:'));
  const answer = `${a} ${op} ${b} = ${value}.`;
  const content = think ? `<think>\n${steps.join('\n')}\n</think>\n${answer}` : `<think>\n\n</think>\n\n${answer}`;
  return [phrase(a, op, b), content];
}

const ABOUT = 'I am ponder\'s small built-in model. I was trained from scratch to do arithmetic and show my working';
const SMALL_TALK = [
  [['hi', 'hello', 'Hello!', 'hey', 'hey there', 'Hi!', 'good morning', 'yo'], 'The user says hello.', [`Hello! ${ABOUT}. Ask me something like 23 + 58.`, 'Hi! Give me a sum like 7 * 8 or 64 - 19 and I will work it out.']],
  [['who are you?', 'what are you?', 'What is your name?', 'who made you?', 'are you a robot?', 'introduce yourself'], 'The user asks about me.', [`${ABOUT}. I am very small, so I only know numbers.`, `${ABOUT}, step by step inside a thinking block.`]],
  [['what can you do?', 'help', 'How do I use you?', 'what do you know?', 'what are you good at?'], 'The user asks what I can do.', ['I can add, subtract and multiply small numbers, for example 45 + 37, 90 - 18 or 6 * 7. I think first, then answer.']],
  [['thanks', 'thank you!', 'Thanks a lot', 'great, thanks', 'nice'], 'The user thanks me.', ['You are welcome! Ask me another sum any time.', 'Glad to help. Another one?']],
  [['bye', 'goodbye', 'see you', 'Bye!'], 'The user says goodbye.', ['Goodbye!', 'Bye! Come back with more sums.']],
];
const OFF_TOPIC = [
  'What is the capital of France?', 'write a poem about the sea', 'tell me a joke', 'What is the weather today?',
  'Explain quantum physics.', 'translate hello into Spanish', 'Who won the world cup?', 'write some python code',
  'what is love?', 'how do I cook rice?', 'What is the meaning of life?', 'summarize this article', 'recommend a book',
  'what time is it?', 'Is the earth round?', 'How are you?', 'what is 2 to the power of 10?', 'what is the square root of 81?',
];
function smallTalk(think) {
  const r = below(10);
  let user;
  let thought;
  let reply;
  if (r < 3) {
    user = pick(OFF_TOPIC);
    thought = 'This is not a sum I can work out.';
    reply = pick(['I am a tiny model and only know arithmetic: adding, subtracting and multiplying small numbers. Try 36 + 47.', 'Sorry, I only know arithmetic. Ask me something like 12 - 5 or 8 * 9.']);
  } else {
    const [users, t, replies] = pick(SMALL_TALK);
    user = pick(users);
    thought = t;
    reply = pick(replies);
  }
  return [user, think ? `<think>\n${thought}\n</think>\n${reply}` : `<think>\n\n</think>\n\n${reply}`];
}

const lines = [];
let problem = 0;
for (let i = 0; i < N; i++) {
  const think = below(5) !== 0; // 80% with reasoning, 20% with it switched off
  const turn = () => (below(8) === 0 ? smallTalk(think) : arithmetic(problem++, think));
  const messages = [];
  const turns = below(10) === 0 ? 2 : 1;
  for (let t = 0; t < turns; t++) {
    const [user, assistant] = turn();
    messages.push({ role: 'user', content: user }, { role: 'assistant', content: assistant });
  }
  lines.push(JSON.stringify({ messages }));
}
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(`${OUT}.tmp`, lines.join('\n') + '\n');
renameSync(`${OUT}.tmp`, OUT);
console.log(`wrote ${N} conversations to ${OUT}`);
