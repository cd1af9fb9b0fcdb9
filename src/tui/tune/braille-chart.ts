/**
 * A line chart drawn with Unicode braille cells (U+2800..U+28FF): each character cell holds a 2-wide,
 * 4-tall grid of dots, so a `width` x `height` cell chart has 2·width x 4·height dot pixels.
 *
 * Algorithm: the series is fitted to the 2·width dot columns (bucket means when there are more values
 * than columns; one column per value, filling from the left, when there are fewer, so a young run's
 * curve grows rightwards instead of stretching), each value maps linearly from [min, max] to a dot row
 * (max at the top), and consecutive columns are joined by filling the dot rows between them, so steep
 * drops stay a connected line. Non-finite values (a NaN loss) leave their column empty and do not set
 * the range. Cost: O(values + width·height).
 */

/** Dot bit of (column 0..1, row 0..3) inside one braille cell. */
const DOT_BITS = [
  [0x01, 0x02, 0x04, 0x40],
  [0x08, 0x10, 0x20, 0x80],
] as const;

const BRAILLE_BLANK = 0x2800;

export interface ChartLines {
  /** `height` strings of `width` braille characters, top row first */
  rows: string[];
  /** the value range the rows span (undefined when no value is finite) */
  min?: number;
  max?: number;
  /** how many series values each dot column stands for (1 while the series fits) */
  valuesPerColumn: number;
}

/** Fits `values` to `columns` points: bucket means when longer, unchanged when it fits. */
export function fitToColumns(values: readonly number[], columns: number): number[] {
  if (values.length <= columns) return [...values];
  const out: number[] = [];
  for (let c = 0; c < columns; c++) {
    const lo = Math.floor((c * values.length) / columns);
    const hi = Math.floor(((c + 1) * values.length) / columns);
    let sum = 0;
    let n = 0;
    for (let i = lo; i < hi; i++) {
      const v = values[i]!;
      if (Number.isFinite(v)) {
        sum += v;
        n++;
      }
    }
    out.push(n > 0 ? sum / n : NaN);
  }
  return out;
}

export function brailleChart(values: readonly number[], width: number, height: number): ChartLines {
  const w = Math.max(1, Math.floor(width));
  const h = Math.max(1, Math.floor(height));
  const dotCols = 2 * w;
  const dotRows = 4 * h;
  const points = fitToColumns(values, dotCols);
  const finite = points.filter((v) => Number.isFinite(v));
  const cells = new Array<number>(w * h).fill(0);
  const valuesPerColumn = values.length > dotCols ? values.length / dotCols : 1;
  if (finite.length === 0) return { rows: render(cells, w, h), valuesPerColumn };

  const min = Math.min(...finite);
  const max = Math.max(...finite);
  const span = max - min;
  // dot row of a value: 0 at the top (max), dotRows - 1 at the bottom (min); a flat series sits mid-way
  const rowOf = (v: number) => (span > 0 ? Math.round(((max - v) / span) * (dotRows - 1)) : Math.floor((dotRows - 1) / 2));
  const set = (x: number, y: number) => {
    const cell = Math.floor(y / 4) * w + Math.floor(x / 2);
    cells[cell] = cells[cell]! | DOT_BITS[x % 2]![y % 4]!;
  };
  let prev: number | undefined;
  for (let x = 0; x < points.length; x++) {
    const v = points[x]!;
    if (!Number.isFinite(v)) {
      prev = undefined;
      continue;
    }
    const y = rowOf(v);
    // join to the previous column: fill the rows between, half in each column
    if (prev !== undefined && Math.abs(y - prev) > 1) {
      const step = y > prev ? 1 : -1;
      const mid = (prev + y) / 2;
      for (let r = prev + step; r !== y; r += step) set(step * (r - mid) <= 0 ? x - 1 : x, r);
    }
    set(x, y);
    prev = y;
  }
  return { rows: render(cells, w, h), min, max, valuesPerColumn };
}

function render(cells: number[], w: number, h: number): string[] {
  const rows: string[] = [];
  for (let r = 0; r < h; r++) rows.push(String.fromCharCode(...cells.slice(r * w, (r + 1) * w).map((b) => BRAILLE_BLANK + b)));
  return rows;
}
