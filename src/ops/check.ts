import { PonderError } from '../errors.js';
import { shapeString, type DType, type Tensor } from '../gpu/tensor.js';

/**
 * Shape and dtype checks every op wrapper runs before it dispatches. Failures throw
 * PonderError('SHAPE') naming the op, the argument and both shapes, e.g.
 * `matmul: b has shape [7x5], expected [K=6 x N]`.
 */
export function fail(op: string, message: string): never {
  throw new PonderError('SHAPE', `${op}: ${message}`);
}

export function expectRank(op: string, name: string, t: Tensor, ranks: number[]): void {
  if (!ranks.includes(t.shape.length)) {
    fail(op, `${name} has shape ${shapeString(t.shape)}, expected rank ${ranks.join(' or ')}`);
  }
}

export function expectDtype(op: string, name: string, t: Tensor, dtypes: DType[]): void {
  if (!dtypes.includes(t.dtype)) fail(op, `${name} is ${t.dtype}, expected ${dtypes.join(' or ')}`);
}

/** Checks `t.shape` equals `shape`; `describe` (e.g. "[T x D]") makes the message readable. */
export function expectShape(op: string, name: string, t: Tensor, shape: readonly number[], describe?: string): void {
  const ok = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!ok) fail(op, `${name} has shape ${shapeString(t.shape)}, expected ${shapeString(shape)}${describe ? ` (${describe})` : ''}`);
}

export function expectSize(op: string, name: string, t: Tensor, size: number): void {
  if (t.size !== size) fail(op, `${name} has ${t.size} elements (shape ${shapeString(t.shape)}), expected ${size}`);
}

export function expectPositiveInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) fail(op, `${name} must be a positive integer, got ${v}`);
}
