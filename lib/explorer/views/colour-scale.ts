// The heat maps' colour scales: diverging (blue, white, red, centred on 0)
// for signed values such as activations and scores; sequential (white to
// dark blue) for probabilities. DOM-free: a value in, [r, g, b] out.

export type Rgb = [number, number, number];

export interface ColourScale {
  kind: 'diverging' | 'sequential';
  /** Diverging: the |value| that reaches full colour. Sequential: the value that reaches full colour (0 is white). */
  limit: number;
}

/** A scale for these values: diverging around 0 when any is negative, else sequential from 0. */
export function scaleFor(values: ArrayLike<number>): ColourScale {
  let maxAbs = 0;
  let negative = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < 0) negative = true;
    maxAbs = Math.max(maxAbs, Math.abs(v));
  }
  return { kind: negative ? 'diverging' : 'sequential', limit: maxAbs === 0 ? 1 : maxAbs };
}

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * t)) as Rgb;
}

const WHITE: Rgb = [255, 255, 255];
const RED: Rgb = [178, 24, 43];
const BLUE: Rgb = [33, 102, 172];
const DARK_BLUE: Rgb = [8, 48, 107];
/** NaN and infinities: grey, so they stand out from any value. */
export const NON_FINITE: Rgb = [128, 128, 128];

export function colourOf(value: number, scale: ColourScale): Rgb {
  if (!Number.isFinite(value)) return NON_FINITE;
  const t = Math.min(1, Math.abs(value) / scale.limit);
  if (scale.kind === 'sequential') return mix(WHITE, DARK_BLUE, Math.min(1, Math.max(0, value) / scale.limit));
  return mix(WHITE, value < 0 ? BLUE : RED, t);
}
