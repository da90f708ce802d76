// Learning-rate schedules, as Transformers' get_*_schedule_with_warmup: a
// multiplier of the base rate for each optimizer step (0-based), with a
// linear warmup from 0 over warmupSteps.
//   constant: 1 after warmup
//   linear:   decays linearly to 0 at totalSteps
//   cosine:   0.5 (1 + cos(pi * progress)), progress from 0 to 1 at totalSteps

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface Schedule {
  kind: ScheduleKind;
  warmupSteps: number;
  totalSteps: number;
}

export function learningRateFactor(schedule: Schedule, step: number): number {
  const { kind, warmupSteps, totalSteps } = schedule;
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  if (kind === 'constant') return 1;
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  if (kind === 'linear') return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
