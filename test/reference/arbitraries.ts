/**
 * fast-check pieces shared by the property tests of convolution and transposed convolution:
 * the layouts and the channel structure of a random problem of a given rank.
 */
import fc from 'fast-check';
import type { LayoutName } from '../../src/shared/geometry/common.js';

/** The letter aliases of each rank's two layouts. */
export const LAYOUT_ALIASES: Record<number, [LayoutName, LayoutName]> = {
  1: ['NCW', 'NWC'],
  2: ['NCHW', 'NHWC'],
  3: ['NCDHW', 'NDHWC'],
};

/** The layouts (names and aliases) that put channels last. */
export const CHANNELS_LAST = new Set<LayoutName | undefined>(['channels_last', 'NWC', 'NHWC', 'NDHWC']);

/** Layout (omitted, named or aliased), batch, groups and channels per group, for fc.record. */
export function channelModel(rank: number) {
  return {
    layout: fc.constantFrom<LayoutName | undefined>(
      undefined,
      'channels_first',
      'channels_last',
      ...LAYOUT_ALIASES[rank],
    ),
    batch: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    cinG: fc.integer({ min: 1, max: 3 }),
    coutG: fc.integer({ min: 1, max: 3 }),
  };
}
