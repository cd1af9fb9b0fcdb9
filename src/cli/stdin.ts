import { PonderError } from '../errors.js';

/** Reads all of stdin as UTF-8; invalid bytes become U+FFFD (TextDecoder's replacement), never a crash. */
export async function readStdin(limitBytes = 16 * 2 ** 20): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    total += (chunk as Buffer).length;
    if (total > limitBytes) throw new PonderError('BAD_INPUT', `stdin is larger than ${limitBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return new TextDecoder('utf-8').decode(Buffer.concat(chunks));
}
